package deploy_test

// Every probe of every workload in the manifests, sent as the kubelet sends
// it to the real ioc binary started as the pod would be: the container's
// args and environment, its ConfigMap and Secret volumes laid out as files
// (the Secrets with test values), the manifests' configuration with sign-in
// closed. Only what must differ on this machine is changed: the addresses
// of Kafka, ClickHouse and MQTT (the local services), the listen ports
// (free ones), and, so that the run touches nothing of anyone else's, a
// topic prefix, consumer groups, a database and the pod name of its own
// (dropped at the end), with ClickHouse's local administrative account
// (the accounts of the manifests do not exist on the local server).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// kubeProbeUA is what the kubelet of Kubernetes 1.31 sends.
const kubeProbeUA = "kube-probe/1.31"

// probePorts are the listen ports this test may use (below Linux's
// ephemeral range, so no outgoing connection holds them).
const probePortLo, probePortHi = 19000, 19999

func freePort(t *testing.T, taken map[int]bool) int {
	t.Helper()
	start := probePortLo + mrand.IntN(probePortHi-probePortLo)
	for i := 0; i <= probePortHi-probePortLo; i++ {
		p := probePortLo + (start-probePortLo+i)%(probePortHi-probePortLo+1)
		if taken[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		taken[p] = true
		return p
	}
	t.Fatalf("no free port in %d-%d", probePortLo, probePortHi)
	return 0
}

// scratch is what one run of the test owns on the shared services.
type scratch struct {
	run, prefix, db string
	kafka           kafkaconn.Config
	ch              chconn.Config
	clientIDs       []string // MQTT sessions to discard
}

func newScratch(t *testing.T) *scratch {
	t.Helper()
	for _, k := range []string{"IOC_MQTT_URL", "IOC_KAFKA_BROKERS", "IOC_CLICKHOUSE_ADDR"} {
		if os.Getenv(k) == "" {
			t.Skipf("%s not set: this test starts the roles against the real local services (make test, or eval \"$(deploy/local/services.sh env)\")", k)
		}
	}
	run := fmt.Sprintf("%d%04d", time.Now().Unix()%100000, mrand.IntN(10000))
	s := &scratch{run: run, prefix: "k8sprobe" + run + ".", db: "ioc_k8sprobe_" + run}
	s.kafka = kafkaconn.Config{Brokers: strings.Split(os.Getenv("IOC_KAFKA_BROKERS"), ","), TopicPrefix: s.prefix}
	s.kafka.Defaults()
	s.ch = chconn.Config{Addr: strings.Split(os.Getenv("IOC_CLICKHOUSE_ADDR"), ","), Database: s.db}
	s.ch.Defaults()
	t.Cleanup(func() { s.drop(t) })
	return s
}

// drop removes the database, the topics and the MQTT sessions of the run.
func (s *scratch) drop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := s.ch.Open(ctx); err != nil {
		t.Errorf("dropping %s: %v", s.db, err)
	} else {
		for _, db := range []string{s.db, s.ch.SecurityDatabase()} {
			if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
				t.Errorf("dropping %s: %v", db, err)
			}
		}
		conn.Close()
	}
	if _, err := s.kafka.DeleteTopicsWithPrefix(ctx); err != nil {
		t.Errorf("dropping the run's topics: %v", err)
	}
	// ingest's persistent session would queue every sensor message for ever.
	for _, id := range s.clientIDs {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(os.Getenv("IOC_MQTT_URL")).SetClientID(id).SetCleanSession(true).SetConnectTimeout(10 * time.Second))
		if tok := c.Connect(); tok.WaitTimeout(15*time.Second) && tok.Error() == nil {
			c.Disconnect(250)
		} else {
			t.Errorf("discarding the MQTT session %s: %v", id, tok.Error())
		}
	}
}

// topics creates every topic the roles use, as the cluster's Kafka would
// have them, but with replication factor 1: the local broker is alone.
func (s *scratch) topics(t *testing.T, partitions int) {
	t.Helper()
	kc := s.kafka
	kc.Partitions, kc.ReplicationFactor = partitions, 1
	names := append([]string{event.TopicReadings, event.TopicDeadLetter, event.TopicDeviceStatus, event.TopicAlerts,
		event.TopicAlertCommands, event.TopicKPITiles}, event.AdminTopics()...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := kc.EnsureTopics(ctx, names...); err != nil {
		t.Fatal(err)
	}
	// The live device registry is compacted (internal/registry).
	if err := kc.EnsureCompactedTopic(ctx, registry.TopicDevices); err != nil {
		t.Fatal(err)
	}
}

// pod is one container laid out on this machine.
type pod struct {
	name     string
	args     []string
	env      []string
	ports    map[int32]int // containerPort → local port
	c        *corev1.Container
	role     string
	eff      map[string]any // the configuration it runs with
	proc     *exec.Cmd
	out      *bytes.Buffer
	finished chan error
}

// secretValue is the test value of a Secret key mounted in a pod.
func secretValue(t *testing.T, key string) string {
	switch {
	case strings.Contains(key, "session-key"):
		b := make([]byte, 48)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	case strings.HasPrefix(key, "clickhouse-"):
		return "" // the local administrative account has none
	default:
		return "k8sprobe-" + key
	}
}

// layOut writes a workload's volumes under a temporary root, rewrites its
// configuration's paths to them, and returns the pod ready to start.
func (s *scratch) layOut(t *testing.T, objs []k8sObject, w workload, taken map[int]bool) *pod {
	t.Helper()
	configMaps := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	spec := &w.pod.Spec
	c := &spec.Containers[0]
	root := t.TempDir()
	for _, m := range c.VolumeMounts {
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			files := map[string]string{}
			switch {
			case v.ConfigMap != nil:
				cm := configMaps[v.ConfigMap.Name]
				if cm == nil {
					t.Fatalf("%s: ConfigMap %s is not in the manifests", w, v.ConfigMap.Name)
				}
				if len(v.ConfigMap.Items) == 0 {
					for k, d := range cm.Data {
						files[k] = d
					}
				}
				for _, it := range v.ConfigMap.Items {
					files[it.Path] = cm.Data[it.Key]
				}
			case v.Secret != nil:
				for _, it := range v.Secret.Items {
					files[it.Path] = secretValue(t, it.Key)
				}
			}
			for name, data := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	p := &pod{name: w.name() + "-" + s.run + "-0", c: c, role: c.Args[0], ports: map[int32]int{}, out: &bytes.Buffer{}}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = p.name
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = secretValue(t, e.ValueFrom.SecretKeyRef.Key)
		default:
			t.Fatalf("%s: env %s: this test lays out literal values, Secret keys and the pod name only", w, e.Name)
		}
	}
	if env["IOC_MQTT_CLIENT_ID"] != "" {
		s.clientIDs = append(s.clientIDs, env["IOC_MQTT_CLIENT_ID"])
	}
	// The configuration: the mounted file, its paths moved under root, the
	// consumer groups made the run's own.
	cfgPath := flagValue(c.Args, "config")
	b, err := os.ReadFile(filepath.Join(root, cfgPath))
	if err != nil {
		t.Fatalf("%s: -config %s: %v", w, cfgPath, err)
	}
	text := string(b)
	for _, m := range c.VolumeMounts {
		text = strings.ReplaceAll(text, m.MountPath+"/", filepath.Join(root, m.MountPath)+"/")
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatal(err)
	}
	for _, section := range []string{"stream", "feeds"} {
		sec, _ := cfg[section].(map[string]any)
		if sec == nil {
			sec = map[string]any{}
			cfg[section] = sec
		}
		g, _ := sec["group_id"].(string)
		if g == "" {
			g = "ioc-" + section
		}
		sec["group_id"] = s.prefix + g
	}
	b, err = yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(root, "run-config.yaml")
	if err := os.WriteFile(local, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p.args = append([]string(nil), c.Args...)
	for i := range p.args {
		if p.args[i] == cfgPath {
			p.args[i] = local
		}
	}
	// Where the role listens, as configured: its ops port and the wall's.
	eff, err := checkConfigErr(local, env)
	if err != nil {
		t.Fatalf("%s: %v", w, err)
	}
	p.eff = eff
	f := facts(t)
	listen := func(variable, port string) {
		if port == "" {
			return
		}
		n, _ := strconv.Atoi(port)
		lp := freePort(t, taken)
		p.ports[int32(n)] = lp
		env[variable] = "127.0.0.1:" + strconv.Itoa(lp)
	}
	if f.opsDefault[p.role] != "" {
		listen("IOC_OPS_LISTEN", opsPort(f, p.role, eff))
	}
	if p.role == "dashboard" || p.role == "run" {
		listen("IOC_DASHBOARD_LISTEN", portOf(getString(eff, "dashboard.listen")))
	}
	// The local services, and the run's own topics and database.
	env["IOC_MQTT_URL"] = os.Getenv("IOC_MQTT_URL")
	env["IOC_KAFKA_BROKERS"] = os.Getenv("IOC_KAFKA_BROKERS")
	env["IOC_CLICKHOUSE_ADDR"] = os.Getenv("IOC_CLICKHOUSE_ADDR")
	env["IOC_KAFKA_TOPIC_PREFIX"] = s.prefix
	env["IOC_CLICKHOUSE_DATABASE"] = s.db
	env["IOC_CLICKHOUSE_USER"] = "default"
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	return p
}

func (p *pod) start(t *testing.T) {
	t.Helper()
	p.proc = exec.Command(iocBin, p.args...)
	p.proc.Env = p.env
	p.proc.Stdout, p.proc.Stderr = p.out, p.out
	if err := p.proc.Start(); err != nil {
		t.Fatal(err)
	}
	p.finished = make(chan error, 1)
	go func() { p.finished <- p.proc.Wait() }()
	t.Cleanup(func() {
		_ = p.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.finished:
		case <-time.After(60 * time.Second):
			_ = p.proc.Process.Kill()
			<-p.finished
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, lastLines(p.out.String(), 30))
		}
	})
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// send does what the kubelet's HTTP prober does: GET on the pod's address
// and the probe's port (a number or a container port's name) and path, with
// its User-Agent and Accept, the probe's own headers and timeout, and no
// redirect followed (this test wants 2xx; the kubelet would take a 3xx too).
func (p *pod) send(pr *corev1.Probe) (int, error) {
	g := pr.HTTPGet
	port, ok := containerPort(p.c, g.Port)
	if !ok {
		return 0, fmt.Errorf("port %s is not a containerPort", g.Port.String())
	}
	local, ok := p.ports[port]
	if !ok {
		return 0, fmt.Errorf("container port %d: the role listens on none of %v", port, p.ports)
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(local)+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", kubeProbeUA)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// budget is how long the kubelet lets a probe fail before it acts
// (restarts the container for startup and liveness probes).
func budget(pr *corev1.Probe) time.Duration {
	period := int32(10)
	if pr.PeriodSeconds > 0 {
		period = pr.PeriodSeconds
	}
	failures := pr.FailureThreshold
	if failures == 0 {
		failures = 3
	}
	return time.Duration(pr.InitialDelaySeconds+period*failures) * time.Second
}

func TestK8sProbesAnswerTheKubelet(t *testing.T) {
	s := newScratch(t)
	_, objs := loadK8s(t)
	taken := map[int]bool{}
	var migrate *pod
	var long []*pod
	partitions := 0
	for _, w := range workloads(objs) {
		c := &w.pod.Spec.Containers[0]
		if len(c.Args) == 0 {
			t.Fatalf("%s: no args", w)
		}
		switch role := c.Args[0]; {
		case role == "migrate":
			migrate = s.layOut(t, objs, w, taken)
		case oneShotRoles[role]:
			if c.StartupProbe != nil || c.ReadinessProbe != nil || c.LivenessProbe != nil {
				t.Errorf("%s: a one-shot job with probes", w)
			}
		default:
			p := s.layOut(t, objs, w, taken)
			long = append(long, p)
			if role == "stream" {
				partitions, _ = strconv.Atoi(getString(p.eff, "kafka.partitions"))
			}
		}
	}
	if migrate == nil || len(long) == 0 {
		t.Fatalf("manifests without a migrate Job (%v) or long-running roles (%d)", migrate != nil, len(long))
	}
	s.topics(t, max(partitions, 1))

	// The migrate Job runs to completion first, as the roles wait for the schema.
	t0 := time.Now()
	migrate.start(t)
	select {
	case err := <-migrate.finished:
		if err != nil {
			t.Fatalf("the migrate Job's container failed: %v\n%s", err, lastLines(migrate.out.String(), 30))
		}
		migrate.finished <- err // for the cleanup
	case <-time.After(3 * time.Minute):
		t.Fatalf("the migrate Job did not finish within 3 minutes:\n%s", lastLines(migrate.out.String(), 30))
	}
	t.Logf("migrate Job done in %s", time.Since(t0).Round(time.Millisecond))

	for _, p := range long {
		p.start(t)
	}
	sent := 0
	for _, p := range long {
		started := time.Now()
		ask := func(what string, pr *corev1.Probe, within time.Duration) {
			t.Helper()
			testpoll.Eventually(t, within, fmt.Sprintf("%s %s (GET %s on port %s) answering 2xx", p.name, what, pr.HTTPGet.Path, pr.HTTPGet.Port.String()),
				func() (bool, string) {
					select {
					case err := <-p.finished:
						p.finished <- err
						t.Fatalf("%s exited (%v) before its %s answered:\n%s", p.name, err, what, lastLines(p.out.String(), 30))
					default:
					}
					code, err := p.send(pr)
					if err != nil {
						return false, err.Error()
					}
					return code >= 200 && code < 300, "HTTP " + strconv.Itoa(code)
				})
			sent++
			t.Logf("%s: %s GET %s on port %s: 2xx after %s", p.name, what, pr.HTTPGet.Path, pr.HTTPGet.Port.String(), time.Since(started).Round(time.Millisecond))
		}
		// The kubelet runs the startup probe first and restarts the
		// container if it has not succeeded within its budget; liveness and
		// readiness start after it.
		if pr := p.c.StartupProbe; pr != nil {
			ask("startupProbe", pr, budget(pr))
		}
		if pr := p.c.LivenessProbe; pr != nil {
			ask("livenessProbe", pr, budget(pr))
		}
		if pr := p.c.ReadinessProbe; pr != nil {
			// Not ready only keeps the pod out of its Services; it must get
			// there, on this shared machine within two minutes.
			ask("readinessProbe", pr, max(budget(pr), 2*time.Minute))
		}
		if p.role == "dashboard" {
			// Sign-in is really closed: the page itself is not served to the prober.
			web := p.c.StartupProbe
			if web != nil {
				pr := web.DeepCopy()
				pr.HTTPGet.Path = "/"
				if code, err := p.send(pr); err != nil || code >= 200 && code < 300 {
					t.Errorf("%s: GET / answers %d (%v) without a session: the test is meant to run with sign-in required", p.name, code, err)
				}
			}
		}
	}
	if sent == 0 {
		t.Fatal("no probe sent")
	}
}
