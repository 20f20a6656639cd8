package deploy_test

// The Kubernetes manifests (deploy/k8s/) checked without a cluster: every
// document is decoded strictly into the official k8s.io/api types (unknown
// or duplicate fields, wrong types and unknown kinds are errors, as with
// `kubectl apply --validate=strict`), then compared with the ioc binary:
// real subcommands, known IOC_* variables, probes on each role's ops port,
// the ConfigMap's ioc.yaml accepted by `ioc check-config` with each pod's
// own environment, shutdown times, scaling bounds. TestK8sChecksCanFail
// breaks the manifests one way at a time and expects each check to notice.

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

var updateK8sDevices = flag.Bool("update-k8s-devices", false, "rewrite the devices.csv of deploy/k8s/config.yaml from deploy/devices.csv")

const k8sDir = "deploy/k8s"

// k8sObject is one decoded document.
type k8sObject struct {
	file string
	obj  runtime.Object
}

func (o k8sObject) kind() string { return o.obj.GetObjectKind().GroupVersionKind().Kind }
func (o k8sObject) name() string { return o.obj.(metav1.Object).GetName() }
func (o k8sObject) String() string {
	return fmt.Sprintf("%s %s/%s", o.file, o.kind(), o.name())
}

// k8sScheme holds the only kinds these manifests may use. A Secret is not
// among them: passwords are referenced (secretKeyRef), never written here.
var k8sScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme, networkingv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

var allowedKinds = map[string]bool{"Namespace": true, "ConfigMap": true, "Service": true, "Deployment": true, "StatefulSet": true,
	"Job": true, "CronJob": true, "PodDisruptionBudget": true, "HorizontalPodAutoscaler": true, "NetworkPolicy": true, "Ingress": true}

// decodeK8s strictly decodes a multi-document YAML file.
func decodeK8s(file string, b []byte) ([]k8sObject, error) {
	dec := serializer.NewCodecFactory(k8sScheme, serializer.EnableStrict).UniversalDeserializer()
	var out []k8sObject
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		obj, gvk, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", file, i+1, err)
		}
		if !allowedKinds[gvk.Kind] {
			return nil, fmt.Errorf("%s document %d: kind %s is not one this deployment uses (a Secret never belongs in the repository)", file, i+1, gvk.Kind)
		}
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
		out = append(out, k8sObject{file: file, obj: obj})
	}
	return out, nil
}

type kustomization struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Namespace  string `yaml:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `yaml:"pairs"`
		IncludeSelectors bool              `yaml:"includeSelectors"`
	} `yaml:"labels"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// renderedK8s, when set, is a folder of manifests rendered by another tool
// (the Helm chart: deploy/kubetest renders deploy/helm/ioc into a folder and
// runs these tests on it, IOC_K8S_NAMESPACE naming the release namespace),
// checked instead of deploy/k8s with the same checks.
var renderedK8s = os.Getenv("IOC_K8S_RENDERED")

// loadK8s reads kustomization.yaml and every resource it lists (or every
// file of renderedK8s).
func loadK8s(t *testing.T) (kustomization, []k8sObject) {
	t.Helper()
	var k kustomization
	if renderedK8s != "" {
		k.Namespace = os.Getenv("IOC_K8S_NAMESPACE")
		files, _ := filepath.Glob(filepath.Join(renderedK8s, "*.yaml"))
		if len(files) == 0 {
			t.Fatalf("IOC_K8S_RENDERED=%s: no *.yaml files", renderedK8s)
		}
		var objs []k8sObject
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			o, err := decodeK8s(filepath.Base(f), b)
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, o...)
		}
		return k, objs
	}
	b, err := os.ReadFile(repoPath(k8sDir + "/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: apiVersion/kind %s/%s", k.APIVersion, k.Kind)
	}
	files, _ := filepath.Glob(repoPath(k8sDir + "/*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s/%s is not listed in kustomization.yaml resources: kubectl apply -k would leave it out", k8sDir, base)
		}
	}
	var objs []k8sObject
	for _, r := range k.Resources {
		b, err := os.ReadFile(repoPath(k8sDir + "/" + r))
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", r, err)
		}
		o, err := decodeK8s(r, b)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	return k, objs
}

// workload is a Deployment, StatefulSet or Job with its pod template.
type workload struct {
	k8sObject
	replicas *int32
	selector *metav1.LabelSelector
	pod      *corev1.PodTemplateSpec
}

func workloads(objs []k8sObject) []workload {
	var out []workload
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{o, v.Spec.Replicas, v.Spec.Selector, &v.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, workload{o, v.Spec.Replicas, v.Spec.Selector, &v.Spec.Template})
		case *batchv1.Job:
			out = append(out, workload{o, nil, v.Spec.Selector, &v.Spec.Template})
		case *batchv1.CronJob:
			out = append(out, workload{o, nil, nil, &v.Spec.JobTemplate.Spec.Template})
		}
	}
	return out
}

// roleDrain is how long each role may take to stop after SIGTERM, read from
// its source: the drain timer of ingest and of the group consumer (stream), the HTTP shutdown of the
// wall, plus the ops endpoint's shutdown in main.go.
func roleDrain(t *testing.T) map[string]int {
	t.Helper()
	read := func(p, re string) int {
		b, err := os.ReadFile(repoPath(p))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(re).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no %s; has the shutdown changed? update roleDrain", p, re)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	ops := read("cmd/ioc/main.go", `sctx, cancel := context\.WithTimeout\(context\.Background\(\), (\d+)\*time\.Second\)`)
	return map[string]int{
		"ingest":    read("ingest/ingest.go", `time\.AfterFunc\((\d+)\*time\.Second, cancelDrain\)`) + ops,
		"stream":    read("internal/kafkaconn/groupconsume.go", `gc\.Drain = (\d+) \* time\.Second`) + ops,
		"dashboard": read("dashboard/dashboard.go", `context\.WithTimeout\(context\.WithoutCancel\(ctx\), (\d+)\*time\.Second\)`) + ops,
	}
}

// k8sEnv is the environment check-config sees for a container: literal
// values as they are, references replaced by what Kubernetes would put.
func k8sEnv(c *corev1.Container) (map[string]string, []string) {
	env := map[string]string{}
	var problems []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
			if regexp.MustCompile(`PASSWORD|SECRET|TOKEN`).MatchString(e.Name) && e.Value != "" {
				problems = append(problems, fmt.Sprintf("container %s: env %s holds a literal value; reference a Secret (valueFrom.secretKeyRef)", c.Name, e.Name))
			}
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "fieldref-" + strings.ReplaceAll(e.ValueFrom.FieldRef.FieldPath, ".", "-")
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "from-secret"
		default:
			env[e.Name] = "ref"
		}
	}
	return env, problems
}

// mountedFile maps a path inside a container to a key of a mounted ConfigMap.
func mountedFile(pod *corev1.PodSpec, c *corev1.Container, p string) (cm, key string, ok bool) {
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, p)
		if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
			continue
		}
		if m.SubPath != "" {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			key = rel
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			return v.ConfigMap.Name, key, true
		}
	}
	return "", "", false
}

// containerPort resolves a probe's or Service's port (number or name).
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func selects(sel *metav1.LabelSelector, lbls map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(lbls))
}

// checkK8s returns every inconsistency between the manifests and the binary.
func checkK8s(t *testing.T, k kustomization, objs []k8sObject) []string {
	t.Helper()
	f := facts(t)
	drain := roleDrain(t)
	var problems []string
	bad := func(o fmt.Stringer, format string, args ...any) {
		problems = append(problems, o.String()+": "+fmt.Sprintf(format, args...))
	}
	configMaps := map[string]*corev1.ConfigMap{}
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		for _, msg := range validation.IsDNS1123Subdomain(o.name()) {
			bad(o, "name: %s", msg)
		}
		if ns := o.obj.(metav1.Object).GetNamespace(); ns != "" && ns != k.Namespace {
			bad(o, "namespace %q differs from the kustomization's %q", ns, k.Namespace)
		}
		switch v := o.obj.(type) {
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		case *corev1.Service:
			services[v.Name] = v
		}
	}

	// The device registry shipped in the ConfigMap is deploy/devices.csv.
	devices, err := os.ReadFile(repoPath("deploy/devices.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range configMaps {
		if d, ok := cm.Data["devices.csv"]; ok && d != string(devices) {
			problems = append(problems, fmt.Sprintf("ConfigMap %s: devices.csv differs from deploy/devices.csv (run go test ./deploy/ -run TestK8sManifests -update-k8s-devices)", cm.Name))
		}
	}

	roles := map[string]workload{}
	var pods []podConfig
	var streamPartitions int
	migrateJob := false
	streamMigrates := false
	for _, w := range workloads(objs) {
		pod := &w.pod.Spec
		if w.selector != nil && !selects(w.selector, w.pod.Labels) {
			bad(w, "spec.selector does not select its own pod template's labels %v", w.pod.Labels)
		}
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			bad(w, "pod securityContext.runAsNonRoot must be true (the image runs as nonroot)")
		}
		if len(pod.Containers) != 1 {
			bad(w, "%d containers, want the one ioc container", len(pod.Containers))
			continue
		}
		c := &pod.Containers[0]
		repo, tag, _ := strings.Cut(c.Image, ":")
		if repo != "sonla-ioc/ioc" || tag == "" || tag == "latest" {
			bad(w, "image %q: want sonla-ioc/ioc:<pinned tag> (kustomization images: rewrites it)", c.Image)
		}
		if len(c.Command) > 0 {
			bad(w, "command overrides the image's ENTRYPOINT (the ioc binary); put the subcommand in args")
		}
		if len(c.Args) == 0 || !f.subcommands[c.Args[0]] {
			bad(w, "args %v: first is not an ioc subcommand (ioc --help lists %v)", c.Args, keys(f.subcommands))
			continue
		}
		role := c.Args[0]
		roles[role] = w
		env, envProblems := k8sEnv(c)
		for _, p := range envProblems {
			bad(w, "%s", p)
		}
		for name := range env {
			if strings.HasPrefix(name, "IOC_") && !f.envNames[name] {
				bad(w, "env %s is not a variable the binary reads (cmd/ioc reads %v)", name, keys(f.envNames))
			}
		}
		// Resources: requests and limits, GOMEMLIMIT under the limit.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if !hasReq || !hasLim {
				bad(w, "resources: %s request and limit required", r)
			} else if req.Cmp(lim) > 0 {
				bad(w, "resources: %s request %s above the limit %s", r, req.String(), lim.String())
			}
		}
		if g := env["GOMEMLIMIT"]; g != "" {
			lim, err := goMemLimit(g)
			memLimit := c.Resources.Limits[corev1.ResourceMemory]
			if err != nil {
				bad(w, "GOMEMLIMIT: %v", err)
			} else if lim >= memLimit.Value() {
				bad(w, "GOMEMLIMIT %s is not below the memory limit %s: the kernel kills before the GC reacts", g, memLimit.String())
			}
		}
		if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem ||
			c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			bad(w, "container securityContext: readOnlyRootFilesystem true and allowPrivilegeEscalation false (ioc writes no files)")
		}

		// The configuration: the -config file is a mounted ConfigMap key,
		// and ioc check-config accepts it with this container's environment.
		cfgPath := flagValue(c.Args, "config")
		if cfgPath == "" {
			cfgPath = env["IOC_CONFIG"]
		}
		cmName, key, ok := mountedFile(pod, c, cfgPath)
		if !ok || configMaps[cmName] == nil || configMaps[cmName].Data[key] == "" {
			bad(w, "-config %q is not a key of a ConfigMap mounted in the container", cfgPath)
			continue
		}
		tmp := filepath.Join(t.TempDir(), "ioc.yaml")
		if err := os.WriteFile(tmp, []byte(configMaps[cmName].Data[key]), 0o600); err != nil {
			t.Fatal(err)
		}
		eff, err := checkConfigErr(tmp, env)
		if err != nil {
			bad(w, "ioc check-config with ConfigMap %s key %s and the pod's env: %v", cmName, key, err)
			continue
		}
		pods = append(pods, podConfig{w, c, role, eff})
		if role == "ingest" {
			if reg := getString(eff, "ingest.registry_file"); reg != "" {
				if cm, k, ok := mountedFile(pod, c, reg); !ok || configMaps[cm] == nil || configMaps[cm].Data[k] == "" {
					bad(w, "ingest.registry_file %s is not a mounted ConfigMap key", reg)
				}
			}
		}
		if role == "stream" {
			streamPartitions, _ = strconv.Atoi(getString(eff, "kafka.partitions"))
			streamMigrates = getString(eff, "stream.migrate") == "true"
		}
		if role == "migrate" {
			migrateJob = true
		}

		if oneShotRoles[role] {
			_, isJob := w.obj.(*batchv1.Job)
			_, isCron := w.obj.(*batchv1.CronJob)
			if !isJob && !isCron || pod.RestartPolicy == corev1.RestartPolicyAlways {
				bad(w, "%s runs once and exits: a Job or CronJob with restartPolicy OnFailure or Never", role)
			}
			continue
		}
		switch w.obj.(type) {
		case *batchv1.Job, *batchv1.CronJob:
			bad(w, "long-running role %s in a Job", role)
		}

		// Health: readiness on /readyz and liveness on /healthz of the role's ops port.
		ops := opsPort(f, role, eff)
		if ops == "" {
			bad(w, "role %s has no ops port (main.go opsDefault or ops.listen)", role)
		}
		for _, pr := range []struct {
			what  string
			probe *corev1.Probe
			path  string
		}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				bad(w, "%s: needs httpGet %s on the ops port %s", pr.what, pr.path, ops)
				continue
			}
			p, ok := containerPort(c, pr.probe.HTTPGet.Port)
			if !ok {
				bad(w, "%s: port %s is not a containerPort", pr.what, pr.probe.HTTPGet.Port.String())
			}
			if pr.probe.HTTPGet.Path != pr.path || strconv.Itoa(int(p)) != ops {
				bad(w, "%s: GET %s on port %d, want %s on the %s ops port %s", pr.what, pr.probe.HTTPGet.Path, p, pr.path, role, ops)
			}
		}
		web := ""
		if role == "dashboard" {
			web = portOf(getString(eff, "dashboard.listen"))
			if _, ok := containerPort(c, intstr.Parse(web)); !ok {
				bad(w, "dashboard.listen port %s is not a containerPort", web)
			}
		}
		// Every probe (startup too) asks a health path that answers 2xx
		// without a session, whatever dashboard.auth says: the kubelet signs
		// in to nothing, and a startup or liveness probe answered 401 or 303
		// restarts the pod for ever.
		for _, pr := range []struct {
			what  string
			probe *corev1.Probe
		}{{"startupProbe", c.StartupProbe}, {"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
			if pr.probe == nil {
				continue
			}
			g := pr.probe.HTTPGet
			if g == nil {
				bad(w, "%s: not an httpGet; the roles report health over HTTP only", pr.what)
				continue
			}
			p, _ := containerPort(c, g.Port)
			port := strconv.Itoa(int(p))
			if !(port == ops && (g.Path == "/healthz" || g.Path == "/readyz") || web != "" && port == web && g.Path == "/healthz") ||
				g.Scheme == corev1.URISchemeHTTPS || g.Host != "" {
				bad(w, "%s: GET %s on port %s is not a health path that answers without a session (ops port %s: /healthz or /readyz; the wall's web port: /healthz)",
					pr.what, g.Path, port, ops)
			}
		}

		// Termination: the grace period covers preStop plus the role's drain.
		var preStop int64
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			preStop = c.Lifecycle.PreStop.Sleep.Seconds
		}
		grace := int64(30) // the Kubernetes default
		if pod.TerminationGracePeriodSeconds != nil {
			grace = *pod.TerminationGracePeriodSeconds
		}
		if need := preStop + int64(drain[role]) + 5; grace < need {
			bad(w, "terminationGracePeriodSeconds %d: %s drains for up to %d s after SIGTERM (+%d s preStop, +5 s margin): need %d",
				grace, role, drain[role], preStop, need)
		}

		// Ingest: a stable, unique MQTT client id per pod.
		if role == "ingest" {
			if _, ok := w.obj.(*appsv1.StatefulSet); !ok {
				bad(w, "ingest must be a StatefulSet: each pod keeps its MQTT session by a stable client id")
			}
			var id *corev1.EnvVar
			for i := range c.Env {
				if c.Env[i].Name == "IOC_MQTT_CLIENT_ID" {
					id = &c.Env[i]
				}
			}
			if id == nil || id.ValueFrom == nil || id.ValueFrom.FieldRef == nil || id.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				bad(w, "IOC_MQTT_CLIENT_ID must come from the pod name (fieldRef metadata.name): two pods with one client id throw each other off the broker")
			}
		}
		if s, ok := w.obj.(*appsv1.StatefulSet); ok {
			if svc := services[s.Spec.ServiceName]; svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
				bad(w, "serviceName %q is not a headless Service of these manifests", s.Spec.ServiceName)
			}
		}
	}
	for _, r := range []string{"ingest", "stream", "dashboard", "migrate", "retention"} {
		if _, ok := roles[r]; !ok {
			problems = append(problems, "no workload runs `ioc "+r+"`")
		}
	}
	if !migrateJob && !streamMigrates {
		problems = append(problems, "nobody migrates the schema: add the migrate Job or set stream.migrate")
	}

	// PodDisruptionBudgets: one per long-running role, selecting its pods only.
	for _, r := range []string{"ingest", "stream", "dashboard"} {
		w, ok := roles[r]
		if !ok {
			continue
		}
		n := 0
		for _, o := range objs {
			pdb, ok := o.obj.(*policyv1.PodDisruptionBudget)
			if !ok || !selects(pdb.Spec.Selector, w.pod.Labels) {
				continue
			}
			n++
			replicas := int32(1)
			if w.replicas != nil {
				replicas = *w.replicas
			}
			if pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int && pdb.Spec.MinAvailable.IntVal >= replicas {
				bad(o, "minAvailable %d with %d replicas: no node could ever be drained", pdb.Spec.MinAvailable.IntVal, replicas)
			}
			for _, other := range workloads(objs) {
				if other.name() != w.name() && selects(pdb.Spec.Selector, other.pod.Labels) {
					bad(o, "also selects the pods of %s", other.name())
				}
			}
		}
		if n != 1 {
			problems = append(problems, fmt.Sprintf("%s: %d PodDisruptionBudgets select its pods, want 1", w, n))
		}
	}

	// Autoscaling: stream and dashboard; stream never beyond the partitions.
	scaled := map[string]bool{}
	for _, o := range objs {
		hpa, ok := o.obj.(*autoscalingv2.HorizontalPodAutoscaler)
		if !ok {
			continue
		}
		ref := hpa.Spec.ScaleTargetRef
		var target *workload
		for r, w := range roles {
			if w.kind() == ref.Kind && w.name() == ref.Name && ref.APIVersion == "apps/v1" {
				target = &w
				scaled[r] = true
				if r == "stream" && (streamPartitions == 0 || hpa.Spec.MaxReplicas > int32(streamPartitions)) {
					bad(o, "maxReplicas %d exceeds kafka.partitions %d: the extra stream pods would get no partition", hpa.Spec.MaxReplicas, streamPartitions)
				}
				if r == "ingest" {
					bad(o, "ingest does not scale on CPU: each replica receives every MQTT message")
				}
			}
		}
		if target == nil {
			bad(o, "scaleTargetRef %s %s/%s is not a workload of these manifests", ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
			bad(o, "minReplicas must be between 1 and maxReplicas %d", hpa.Spec.MaxReplicas)
		}
		if target.replicas != nil && hpa.Spec.MinReplicas != nil && (*target.replicas < *hpa.Spec.MinReplicas || *target.replicas > hpa.Spec.MaxReplicas) {
			bad(o, "%s replicas %d outside the autoscaler's %d..%d", target, *target.replicas, *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
		}
		for _, m := range hpa.Spec.Metrics {
			if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil {
				if _, ok := target.pod.Spec.Containers[0].Resources.Requests[m.Resource.Name]; !ok {
					bad(o, "scales on %s utilisation, but %s requests no %s", m.Resource.Name, target, m.Resource.Name)
				}
			}
		}
	}
	for _, r := range []string{"stream", "dashboard"} {
		if !scaled[r] {
			problems = append(problems, "no HorizontalPodAutoscaler for "+r)
		}
	}

	problems = append(problems, checkK8sAccess(objs, pods)...)

	// Services and NetworkPolicies point at real pods and ports.
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *corev1.Service:
			var sel []workload
			for _, w := range roles {
				if selects(&metav1.LabelSelector{MatchLabels: v.Spec.Selector}, w.pod.Labels) {
					sel = append(sel, w)
				}
			}
			if len(sel) == 0 {
				bad(o, "selector %v matches no pod of these manifests", v.Spec.Selector)
			}
			for _, p := range v.Spec.Ports {
				for _, w := range sel {
					tp := p.TargetPort
					if tp.Type == intstr.Int && tp.IntVal == 0 {
						tp = intstr.FromInt32(p.Port)
					}
					if _, ok := containerPort(&w.pod.Spec.Containers[0], tp); !ok {
						bad(o, "port %s: targetPort %s is not a containerPort of %s", p.Name, tp.String(), w)
					}
				}
			}
		case *networkingv1.NetworkPolicy:
			var sel []workload
			for _, w := range workloads(objs) {
				if selects(&v.Spec.PodSelector, w.pod.Labels) {
					sel = append(sel, w)
				}
			}
			if len(sel) == 0 {
				bad(o, "podSelector matches no pod of these manifests")
			}
			for _, rule := range v.Spec.Ingress {
				for _, p := range rule.Ports {
					if p.Port == nil {
						continue
					}
					found := false
					for _, w := range sel {
						_, ok := containerPort(&w.pod.Spec.Containers[0], *p.Port)
						found = found || ok
					}
					if !found {
						bad(o, "ingress port %s is no containerPort of the pods it selects", p.Port.String())
					}
				}
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// oneShotRoles run to completion (Jobs), the others serve until stopped.
var oneShotRoles = map[string]bool{"migrate": true, "retention": true, "check-config": true}

// checkConfigErr runs `ioc check-config` with exactly env, like a pod.
func checkConfigErr(file string, env map[string]string) (map[string]any, error) {
	cmd := exec.Command(iocBin, "check-config", "-config", file)
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(stdout.Bytes(), &m); err != nil {
		return nil, err
	}
	return m, nil
}

func TestK8sManifests(t *testing.T) {
	if *updateK8sDevices {
		updateDevicesInConfigMap(t)
	}
	k, objs := loadK8s(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind()]++
	}
	t.Logf("decoded strictly: %v", kinds)
	for _, p := range checkK8s(t, k, objs) {
		t.Error(p)
	}
	if k.Namespace == "" {
		t.Error("kustomization.yaml: set namespace")
	}
	for _, img := range k.Images {
		if img.Name != "sonla-ioc/ioc" || img.NewTag == "" || img.NewTag == "latest" {
			t.Errorf("kustomization.yaml images: %+v: pin a tag of sonla-ioc/ioc", img)
		}
	}
}

func updateDevicesInConfigMap(t *testing.T) {
	devices, err := os.ReadFile(repoPath("deploy/devices.csv"))
	if err != nil {
		t.Fatal(err)
	}
	p := repoPath(k8sDir + "/config.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(b), "  devices.csv: |\n")
	if !ok {
		t.Fatal("config.yaml: no `  devices.csv: |` block (it must come last)")
	}
	var ind strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(string(devices), "\n"), "\n") {
		if l != "" {
			ind.WriteString("    ")
		}
		ind.WriteString(l + "\n")
	}
	if err := os.WriteFile(p, []byte(head+"  devices.csv: |\n"+ind.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Each check above, shown to fail: the manifests broken one way at a time.
func TestK8sChecksCanFail(t *testing.T) {
	// Strict decoding.
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown field": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  selectr: {a: b}\n", `unknown field "spec.selectr"`},
		"wrong case":    {"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  Selector: {a: b}\n", `unknown field "spec.Selector"`},
		"duplicate key": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n", `key "name" already set`},
		"wrong type":    {"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: two\n", "replicas"},
		"unknown kind":  {"apiVersion: apps/v1\nkind: Deploymnet\nmetadata:\n  name: x\n", "no kind \"Deploymnet\""},
		"a Secret":      {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: hunter2\n", "never belongs in the repository"},
	} {
		_, err := decodeK8s("test.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decoding %s: %v, want an error with %q", name, err, tc.want)
		}
	}

	k, _ := loadK8s(t)
	find := func(objs []k8sObject, kind, name string) runtime.Object {
		for _, o := range objs {
			if o.kind() == kind && o.name() == name {
				return o.obj
			}
		}
		t.Fatalf("no %s %s in the manifests", kind, name)
		return nil
	}
	container := func(objs []k8sObject, kind, name string) *corev1.Container {
		for _, w := range workloads(objs) {
			if w.kind() == kind && w.name() == name {
				return &w.pod.Spec.Containers[0]
			}
		}
		t.Fatalf("no %s %s", kind, name)
		return nil
	}
	cases := map[string]struct {
		breakIt func(objs []k8sObject)
		want    string
	}{
		"not a subcommand": {func(o []k8sObject) { container(o, "Deployment", "ioc-stream").Args[0] = "streem" }, "not an ioc subcommand"},
		"unknown env": {func(o []k8sObject) {
			c := container(o, "Deployment", "ioc-stream")
			c.Env = append(c.Env, corev1.EnvVar{Name: "IOC_CLICKHOUSE_PASS", Value: "x"})
		}, "IOC_CLICKHOUSE_PASS is not a variable the binary reads"},
		"literal password": {func(o []k8sObject) {
			c := container(o, "Deployment", "ioc-stream")
			c.Env[0] = corev1.EnvVar{Name: "IOC_CLICKHOUSE_PASSWORD", Value: "hunter2"}
		}, "holds a literal value"},
		"readiness on another port": {func(o []k8sObject) {
			c := container(o, "Deployment", "ioc-stream")
			c.ReadinessProbe.HTTPGet.Port = intstr.FromInt32(9101)
		}, "readinessProbe: port 9101 is not a containerPort"},
		"ops port not the role's": {func(o []k8sObject) {
			c := container(o, "Deployment", "ioc-stream")
			c.Ports[0].ContainerPort = 9101
		}, "want /readyz on the stream ops port 9102"},
		"liveness on /readyz": {func(o []k8sObject) {
			container(o, "StatefulSet", "ioc-ingest").LivenessProbe.HTTPGet.Path = "/readyz"
		}, "livenessProbe: GET /readyz"},
		"no readiness": {func(o []k8sObject) { container(o, "Deployment", "ioc-dashboard").ReadinessProbe = nil }, "readinessProbe: needs httpGet /readyz"},
		"short grace": {func(o []k8sObject) {
			g := int64(30)
			find(o, "StatefulSet", "ioc-ingest").(*appsv1.StatefulSet).Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "terminationGracePeriodSeconds 30: ingest drains"},
		"preStop eats the grace": {func(o []k8sObject) {
			container(o, "Deployment", "ioc-dashboard").Lifecycle.PreStop.Sleep.Seconds = 15
		}, "+15 s preStop"},
		"no memory limit": {func(o []k8sObject) {
			delete(container(o, "Deployment", "ioc-stream").Resources.Limits, corev1.ResourceMemory)
		}, "memory request and limit required"},
		"GOMEMLIMIT above limit": {func(o []k8sObject) {
			container(o, "Deployment", "ioc-stream").Resources.Limits[corev1.ResourceMemory] = resource.MustParse("800Mi")
		}, "GOMEMLIMIT 900MiB is not below the memory limit 800Mi"},
		"bad config key": {func(o []k8sObject) {
			cm := find(o, "ConfigMap", "ioc-config").(*corev1.ConfigMap)
			cm.Data["ioc.yaml"] = strings.Replace(cm.Data["ioc.yaml"], "max_rows:", "max_row:", 1)
		}, "field max_row not found"},
		"config not mounted": {func(o []k8sObject) {
			container(o, "Deployment", "ioc-stream").VolumeMounts = nil
		}, `-config "/etc/ioc/ioc.yaml" is not a key of a ConfigMap mounted`},
		"devices.csv drifted": {func(o []k8sObject) {
			find(o, "ConfigMap", "ioc-config").(*corev1.ConfigMap).Data["devices.csv"] += "x,vnpt,t,w,n,1,1,60\n"
		}, "devices.csv differs from deploy/devices.csv"},
		"ingest as Deployment": {func(o []k8sObject) {
			for i := range o {
				if s, ok := o[i].obj.(*appsv1.StatefulSet); ok {
					d := &appsv1.Deployment{ObjectMeta: s.ObjectMeta, Spec: appsv1.DeploymentSpec{Replicas: s.Spec.Replicas, Selector: s.Spec.Selector, Template: s.Spec.Template}}
					d.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
					o[i].obj = d
				}
			}
		}, "ingest must be a StatefulSet"},
		"shared client id": {func(o []k8sObject) {
			c := container(o, "StatefulSet", "ioc-ingest")
			c.Env[0] = corev1.EnvVar{Name: "IOC_MQTT_CLIENT_ID", Value: "ioc-ingest-1"}
		}, "IOC_MQTT_CLIENT_ID must come from the pod name"},
		"stream beyond partitions": {func(o []k8sObject) {
			find(o, "HorizontalPodAutoscaler", "ioc-stream").(*autoscalingv2.HorizontalPodAutoscaler).Spec.MaxReplicas = 12
		}, "maxReplicas 12 exceeds kafka.partitions 6"},
		"HPA on a missing target": {func(o []k8sObject) {
			find(o, "HorizontalPodAutoscaler", "ioc-dashboard").(*autoscalingv2.HorizontalPodAutoscaler).Spec.ScaleTargetRef.Name = "ioc-wall"
		}, "no HorizontalPodAutoscaler for dashboard"},
		"PDB selects nothing": {func(o []k8sObject) {
			find(o, "PodDisruptionBudget", "ioc-stream").(*policyv1.PodDisruptionBudget).Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "ioc-streem"
		}, "0 PodDisruptionBudgets select its pods"},
		"PDB blocks drains": {func(o []k8sObject) {
			v := intstr.FromInt32(1)
			p := find(o, "PodDisruptionBudget", "ioc-ingest").(*policyv1.PodDisruptionBudget)
			p.Spec.MaxUnavailable, p.Spec.MinAvailable = nil, &v
		}, "no node could ever be drained"},
		"Service to a missing port": {func(o []k8sObject) {
			find(o, "Service", "ioc-dashboard").(*corev1.Service).Spec.Ports[0].TargetPort = intstr.FromString("http")
		}, "targetPort http is not a containerPort"},
		"policy on a wrong port": {func(o []k8sObject) {
			p := intstr.FromInt32(8081)
			find(o, "NetworkPolicy", "ioc-dashboard-web").(*networkingv1.NetworkPolicy).Spec.Ingress[0].Ports[0].Port = &p
		}, "ingress port 8081 is no containerPort"},
		"selector off the template": {func(o []k8sObject) {
			find(o, "Deployment", "ioc-stream").(*appsv1.Deployment).Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "other"
		}, "spec.selector does not select its own pod template"},
		"latest image": {func(o []k8sObject) { container(o, "Job", "ioc-migrate").Image = "sonla-ioc/ioc:latest" }, "pinned tag"},
		"retention restarting for ever": {func(o []k8sObject) {
			find(o, "CronJob", "ioc-retention").(*batchv1.CronJob).Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, "retention runs once and exits"},
		"bad retention": {func(o []k8sObject) {
			cm := find(o, "ConfigMap", "ioc-config").(*corev1.ConfigMap)
			cm.Data["ioc.yaml"] = strings.Replace(cm.Data["ioc.yaml"], "readings_days: 400", "readings_days: 7", 1)
		}, "retention: readings_days 7 must be at least 31"},
		"no migration": {func(o []k8sObject) {
			for i := range o {
				if _, ok := o[i].obj.(*batchv1.Job); ok {
					o[i] = o[0]
				}
			}
		}, "nobody migrates the schema"},
		"startup probe on the page": {func(o []k8sObject) {
			container(o, "Deployment", "ioc-dashboard").StartupProbe.HTTPGet.Path = "/"
		}, "startupProbe: GET / on port 8080 is not a health path"},
		"password in the environment": {func(o []k8sObject) {
			c := container(o, "Deployment", "ioc-stream")
			c.Env = append(c.Env, corev1.EnvVar{Name: "CLICKHOUSE_PASSWORD", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "ioc-secrets"}, Key: "clickhouse-pipeline-password"}}})
		}, "env CLICKHOUSE_PASSWORD: a secret in an environment variable"},
		"stream as the migration's account": {func(o []k8sObject) {
			c := container(o, "Deployment", "ioc-stream")
			for i := range c.Env {
				if c.Env[i].Name == "IOC_CLICKHOUSE_USER" {
					c.Env[i].Value = "ioc_admin"
				}
			}
		}, "ClickHouse account ioc_admin (the migrate Job's, which may change the schema) is also used by"},
		"dashboard and stream share an account": {func(o []k8sObject) {
			c := container(o, "Deployment", "ioc-dashboard")
			for i := range c.Env {
				if c.Env[i].Name == "IOC_CLICKHOUSE_USER" {
					c.Env[i].Value = "ioc_pipeline"
				}
			}
		}, "ClickHouse account ioc_pipeline is shared by the roles"},
		"ingest given a ClickHouse password": {func(o []k8sObject) {
			s := find(o, "StatefulSet", "ioc-ingest").(*appsv1.StatefulSet)
			for _, v := range s.Spec.Template.Spec.Volumes {
				if v.Secret != nil {
					v.Secret.Items = append(v.Secret.Items, corev1.KeyToPath{Key: "clickhouse-admin-password", Path: "clickhouse-password"})
				}
			}
		}, "mounts Secret key ioc-secrets/clickhouse-admin-password, which the ingest role does not read"},
		"no shared session key": {func(o []k8sObject) {
			cm := find(o, "ConfigMap", "ioc-config").(*corev1.ConfigMap)
			cm.Data["ioc.yaml"] = regexp.MustCompile(`(?m)^\s*session_key_file:.*\n`).ReplaceAllString(cm.Data["ioc.yaml"], "")
		}, "session_key_file unset"},
		"ingress without trust_proxy": {func(o []k8sObject) {
			cm := find(o, "ConfigMap", "ioc-config").(*corev1.ConfigMap)
			cm.Data["ioc.yaml"] = strings.Replace(cm.Data["ioc.yaml"], "trust_proxy: true", "trust_proxy: false", 1)
		}, "an Ingress routes to the wall but dashboard.auth.trust_proxy is off"},
		"web port open to all with trust_proxy": {func(o []k8sObject) {
			find(o, "NetworkPolicy", "ioc-dashboard-web").(*networkingv1.NetworkPolicy).Spec.Ingress[0].From = nil
		}, "admits anyone to the web port 8080"},
		"writable root": {func(o []k8sObject) {
			f := false
			container(o, "Deployment", "ioc-dashboard").SecurityContext.ReadOnlyRootFilesystem = &f
		}, "readOnlyRootFilesystem true"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, objs := loadK8s(t)
			tc.breakIt(objs)
			got := strings.Join(checkK8s(t, k, objs), "\n")
			if !strings.Contains(got, tc.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", got, tc.want)
			}
		})
	}
}
