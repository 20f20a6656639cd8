package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// Pipeline is the ioc binary running the roles as OS processes with a
// configuration of their own: a database, topic prefix, consumer group,
// MQTT client id and mount point unique to this run, so that the shared
// local services can be used beside other work.
type Pipeline struct {
	Run        string
	Dir        string
	Bin        string
	Kafka      kafkaconn.Config
	CH         chconn.Config
	MountPoint string
	ClientID   string
	WallAddr   string
	Roles      []*RoleProc
	log        *slog.Logger
}

// RoleProc is one running ioc process.
type RoleProc struct {
	Name   string
	Ops    string // host:port of /metrics, /readyz, /debug/pprof
	Log    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Pid of the process.
func (r *RoleProc) Pid() int { return r.cmd.Process.Pid }

// BuildIOC compiles ./cmd/ioc into dir.
func BuildIOC(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "ioc")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ioc")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building ./cmd/ioc: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr asks the kernel for an unused loopback port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// pipelineConfig is the YAML configuration of the run, with -set applied.
func pipelineConfig(p *Params, run, wall string) (map[string]any, error) {
	registry, err := filepath.Abs(filepath.Join(p.Repo, "deploy", "devices.csv"))
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"log":        map[string]any{"level": "warn"},
		"kafka":      map[string]any{"brokers": p.KafkaBrokers, "topic_prefix": "bench" + run + "."},
		"clickhouse": map[string]any{"addr": p.ClickHouseAddr, "database": "ioc_bench_" + run},
		"ingest": map[string]any{
			"mqtt":          map[string]any{"url": p.MQTTURL, "client_id": "ioc-bench-" + run, "mount_point": "bench/" + run + "/"},
			"registry_file": registry,
		},
		"stream": map[string]any{"group_id": "ioc-bench-" + run},
		// The benchmark's wall clients connect without signing in.
		"dashboard": map[string]any{"listen": wall, "auth": map[string]any{"dev_open": true}},
	}
	for _, s := range p.Set {
		k, v, _ := strings.Cut(s, "=")
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			return nil, fmt.Errorf("-set %s: %w", s, err)
		}
		if err := setPath(cfg, strings.Split(k, "."), val); err != nil {
			return nil, fmt.Errorf("-set %s: %w", s, err)
		}
	}
	return cfg, nil
}

func setPath(m map[string]any, path []string, v any) error {
	for i, k := range path {
		if i == len(path)-1 {
			m[k] = v
			return nil
		}
		next, ok := m[k].(map[string]any)
		if !ok {
			if _, exists := m[k]; exists {
				return fmt.Errorf("%s is not a section", strings.Join(path[:i+1], "."))
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return nil
}

// StartPipeline writes the configuration and starts the roles, stream
// first (it creates the database), and waits until every role is ready.
// If a role fails, the others are stopped and the pipeline is returned
// with the error, so that what it created can be cleaned up.
func StartPipeline(ctx context.Context, p *Params, bin, dir, run string, log *slog.Logger) (*Pipeline, error) {
	wall, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg, err := pipelineConfig(p, run, wall)
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	pl := &Pipeline{
		Run: run, Dir: dir, Bin: bin, WallAddr: wall, log: log,
		Kafka:      kafkaconn.Config{Brokers: p.KafkaBrokers, TopicPrefix: "bench" + run + "."},
		CH:         chconn.Config{Addr: p.ClickHouseAddr, Database: "ioc_bench_" + run},
		MountPoint: "bench/" + run + "/",
		ClientID:   "ioc-bench-" + run,
	}
	pl.Kafka.Defaults()
	pl.CH.Defaults()
	names := []string{"stream", "dashboard", "ingest"}
	if p.Mode == "run" {
		names = []string{"run"}
	}
	for _, name := range names {
		r, err := pl.start(ctx, name, cfgPath)
		if err != nil {
			pl.Stop()
			return pl, err // stopped, for the caller to clean up
		}
		if err := r.waitReady(ctx, 120*time.Second); err != nil {
			pl.Stop()
			return pl, err
		}
	}
	return pl, nil
}

func (pl *Pipeline) start(ctx context.Context, name, cfgPath string) (*RoleProc, error) {
	ops, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r := &RoleProc{Name: name, Ops: ops, Log: filepath.Join(pl.Dir, name+".log"), exited: make(chan struct{})}
	logf, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(pl.Bin, name, "-config", cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	// The run's configuration wins over whatever IOC_* the caller exported.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IOC_") {
			r.cmd.Env = append(r.cmd.Env, kv)
		}
	}
	r.cmd.Env = append(r.cmd.Env, "IOC_OPS_LISTEN="+ops, "IOC_PPROF=1")
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting ioc %s: %w", name, err)
	}
	go func() {
		r.err = r.cmd.Wait()
		logf.Close()
		close(r.exited)
	}()
	pl.Roles = append(pl.Roles, r)
	return r, nil
}

func (r *RoleProc) waitReady(ctx context.Context, timeout time.Duration) error {
	exited := func() error {
		select {
		case <-r.exited:
			return fmt.Errorf("ioc %s exited during start-up (%v); its log %s ends:\n%s", r.Name, r.err, r.Log, tail(r.Log, 20))
		default:
			return nil
		}
	}
	ready, err := waitHTTPReady(ctx, "http://"+r.Ops+"/readyz", timeout, exited)
	switch {
	case err != nil:
		return err
	case !ready:
		return fmt.Errorf("ioc %s not ready after %s; its log %s ends:\n%s", r.Name, timeout, r.Log, tail(r.Log, 20))
	}
	return nil
}

// waitHTTPReady polls url until it answers 200 OK (true), timeout passes
// (false), or exited reports the process gone or ctx ends (that error).
// The pipeline's roles and the peer wait for readiness with it.
func waitHTTPReady(ctx context.Context, url string, timeout time.Duration, exited func() error) (bool, error) {
	var stopped error
	ready := testpoll.Poll(timeout, testpoll.Interval, func() bool {
		if stopped = exited(); stopped == nil {
			stopped = ctx.Err()
		}
		if stopped != nil {
			return true
		}
		res, err := http.Get(url)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if stopped != nil {
		return false, stopped
	}
	return ready, nil
}

// Restart stops a role (SIGTERM, as an operator would) and starts it again
// with the same configuration; the fan-out test restarts the dashboard so
// that what 10,000 clients left in its memory does not count against the
// windows after it. In "run" mode the one process restarts.
func (pl *Pipeline) Restart(ctx context.Context, name string) error {
	for i, r := range pl.Roles {
		if r.Name != name && r.Name != "run" {
			continue
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(45 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		pl.Roles = append(pl.Roles[:i], pl.Roles[i+1:]...)
		n, err := pl.start(ctx, r.Name, filepath.Join(pl.Dir, "ioc.yaml"))
		if err != nil {
			return err
		}
		return n.waitReady(ctx, 120*time.Second)
	}
	return fmt.Errorf("no role %s", name)
}

// Alive reports a role that exited while it should be running.
func (pl *Pipeline) Alive() error {
	for _, r := range pl.Roles {
		select {
		case <-r.exited:
			return fmt.Errorf("ioc %s exited (%v); its log %s ends:\n%s", r.Name, r.err, r.Log, tail(r.Log, 20))
		default:
		}
	}
	return nil
}

// Role finds a role by name; in "run" mode every name is the one process.
func (pl *Pipeline) Role(name string) *RoleProc {
	for _, r := range pl.Roles {
		if r.Name == name || r.Name == "run" {
			return r
		}
	}
	return nil
}

// Scrape reads the metrics of a role.
func (pl *Pipeline) Scrape(ctx context.Context, name string) (Metrics, error) {
	r := pl.Role(name)
	if r == nil {
		return nil, fmt.Errorf("no role %s", name)
	}
	return Scrape(ctx, r.Ops)
}

// Procs are the roles for the meter.
func (pl *Pipeline) Procs() []Proc {
	var out []Proc
	for _, r := range pl.Roles {
		out = append(out, Proc{Name: r.Name, Kind: "role", Pid: r.Pid(), Own: true})
	}
	return out
}

// Stop shuts the roles down the way an operator does: intake (ingest)
// first, then the rest; each gets 45 s before it is killed.
func (pl *Pipeline) Stop() {
	order := []string{"ingest", "run", "stream", "dashboard"}
	for _, name := range order {
		for _, r := range pl.Roles {
			if r.Name != name {
				continue
			}
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.exited:
			case <-time.After(45 * time.Second):
				pl.log.Warn("role did not stop in 45s; killing it", "role", r.Name)
				_ = r.cmd.Process.Kill()
				<-r.exited
			}
		}
	}
}

// Cleanup removes what the run created on the shared services: the
// database, the topics and the ingest's persistent MQTT session.
func (pl *Pipeline) Cleanup(ctx context.Context, mqttURL string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if conn, err := pl.CH.Open(ctx); err == nil {
		// The roles may create databases of their own beside it (the
		// audit log's <database>_security).
		dropDatabases(ctx, conn, pl.CH.Database)
		conn.Close()
	}
	_, _ = pl.Kafka.DeleteTopicsWithPrefix(ctx)
	clearSession(mqttURL, pl.ClientID)
}

// clearSession removes the persistent MQTT session of a client id.
func clearSession(url, clientID string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}

// ServicePids asks services.sh for the pids of the local services; a
// service it did not start (or that runs elsewhere) has pid 0.
func ServicePids(repo string) []Proc {
	var out []Proc
	for _, svc := range []string{"mosquitto", "kafka", "clickhouse"} {
		p := Proc{Name: svc, Kind: "service"}
		b, err := exec.Command(filepath.Join(repo, "deploy", "local", "services.sh"), "pid", svc).Output()
		if err == nil {
			p.Pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		out = append(out, p)
	}
	return out
}

// SelfProc is the benchmark process itself (the load generator).
func SelfProc() Proc { return Proc{Name: "iocbench", Kind: "bench", Pid: os.Getpid(), Own: true} }

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dropDatabases drops db and every database whose name begins with db_
// (what the run's roles created beside it), ignoring errors: cleanup is
// best effort, and the layout test finds what a run leaves behind.
func dropDatabases(ctx context.Context, conn driver.Conn, db string) {
	dbs := []string{db}
	if rows, err := conn.Query(ctx, "SELECT name FROM system.databases WHERE startsWith(name, '"+db+"_')"); err == nil {
		for rows.Next() {
			var name string
			if rows.Scan(&name) == nil {
				dbs = append(dbs, name)
			}
		}
		rows.Close()
	}
	for _, d := range dbs {
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+d)
	}
}
