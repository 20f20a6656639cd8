// Package kubetest checks the Helm chart deploy/helm/ioc with Helm's own Go
// library (helm.sh/helm/v4), in a module of its own so that Helm and its
// dependencies stay out of the pipeline's module.
//
//   - TestHelmLint: `helm lint --strict` for the defaults and both layouts.
//   - TestHelmDefaultsRenderTheKustomizeManifests: the defaults render the
//     very objects of deploy/k8s (spec, data, ports, probes, volumes...).
//   - TestHelmLayouts: the single-server and the cluster values render the
//     layout they claim (brokers, replication factor, ClickHouse cluster and
//     servers), and pass the same checks as the kustomize manifests: the
//     tests of deploy/k8s_test.go run on the rendered files (IOC_K8S_RENDERED),
//     with, for the single-server layout and when the local services are up
//     (IOC_KAFKA_BROKERS...), every probe sent to the real binary.
//
// Run from this folder: go test ./... (make test does).
package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"
)

const (
	chartRel  = "deploy/helm/ioc"
	namespace = "sonla-ioc" // as deploy/k8s/kustomization.yaml
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, chartRel, "Chart.yaml")); err != nil {
		t.Fatalf("no chart at %s: %v", chartRel, err)
	}
	return root
}

// layouts are the values files the chart ships, by name ("" = defaults).
var layouts = map[string]string{"defaults": "", "single": "values-single.yaml", "cluster": "values-cluster.yaml"}

// values reads a layout's values file (nil for the defaults).
func values(t *testing.T, root, layout string) map[string]any {
	t.Helper()
	if layouts[layout] == "" {
		return map[string]any{}
	}
	v, err := common.ReadValuesFile(filepath.Join(root, chartRel, layouts[layout]))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// render is `helm template ioc deploy/helm/ioc -n sonla-ioc [-f values-<layout>.yaml]`,
// strict (a missing value is an error): template file name → manifest.
func render(t *testing.T, root, layout string) map[string]string {
	t.Helper()
	m, err := renderWith(t, root, layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// renderWith renders a layout with values set over it (helm --set).
func renderWith(t *testing.T, root, layout string, set map[string]any) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(filepath.Join(root, chartRel))
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	vals := values(t, root, layout)
	for k, v := range set {
		vals = merge(vals, k, v)
	}
	rv, err := util.ToRenderValues(chrt, vals,
		common.ReleaseOptions{Name: "ioc", Namespace: namespace, Revision: 1, IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values of %s: %w", layout, err)
	}
	out, err := engine.Engine{Strict: true}.RenderWithContext(t.Context(), chrt, rv)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart with the %s values: %w", layout, err)
	}
	manifests := map[string]string{}
	for name, body := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(body) == "" {
			continue
		}
		manifests[name] = body
	}
	if len(manifests) == 0 {
		t.Fatal("the chart rendered nothing")
	}
	return manifests, nil
}

// merge sets a dotted key (dashboard.trustedProxies) in values.
func merge(vals map[string]any, key string, v any) map[string]any {
	head, rest, nested := strings.Cut(key, ".")
	if !nested {
		vals[head] = v
		return vals
	}
	sub, _ := vals[head].(map[string]any)
	if sub == nil {
		sub = map[string]any{}
	}
	vals[head] = merge(sub, rest, v)
	return vals
}

// writeRendered puts the manifests in a folder, one file per template.
func writeRendered(t *testing.T, manifests map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range manifests {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestHelmLint(t *testing.T) {
	root := repoRoot(t)
	for _, layout := range []string{"defaults", "single", "cluster"} {
		t.Run(layout, func(t *testing.T) {
			res := lint.RunAll(filepath.Join(root, chartRel), values(t, root, layout), namespace)
			for _, m := range res.Messages {
				// --strict: warnings fail too; an icon is only information.
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m.Error())
				} else {
					t.Logf("helm lint: %s", m.Error())
				}
			}
		})
	}
}

// object is one decoded manifest, keyed "Kind/name".
type object map[string]any

func decodeAll(t *testing.T, docs map[string]string) map[string]object {
	t.Helper()
	out := map[string]object{}
	for file, body := range docs {
		for _, doc := range strings.Split(body, "\n---") {
			var o object
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if len(o) == 0 {
				continue
			}
			md, _ := o["metadata"].(map[string]any)
			key := fmt.Sprint(o["kind"], "/", md["name"])
			if _, dup := out[key]; dup {
				t.Errorf("%s: %s twice", file, key)
			}
			out[key] = o
		}
	}
	return out
}

// comparable drops what legitimately differs between the kustomize and
// the Helm rendering: the labels of the objects' own metadata (Helm adds
// its release labels) and the namespace (kustomize sets it at build). The
// ConfigMap's ioc.yaml is compared as YAML, so its comments may differ.
func comparable(t *testing.T, o object) object {
	t.Helper()
	c := object{}
	for k, v := range o {
		c[k] = v
	}
	md := map[string]any{}
	for k, v := range o["metadata"].(map[string]any) {
		if k != "labels" && k != "namespace" {
			md[k] = v
		}
	}
	c["metadata"] = md
	if data, ok := o["data"].(map[string]any); ok {
		d := map[string]any{}
		for k, v := range data {
			d[k] = v
			if strings.HasSuffix(k, ".yaml") {
				var parsed any
				if err := yaml.Unmarshal([]byte(fmt.Sprint(v)), &parsed); err != nil {
					t.Fatalf("data %s: %v", k, err)
				}
				d[k] = parsed
			}
		}
		c["data"] = d
	}
	return c
}

func TestHelmDefaultsRenderTheKustomizeManifests(t *testing.T) {
	root := repoRoot(t)
	helm := decodeAll(t, render(t, root, "defaults"))
	var k struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy/k8s/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(root, "deploy/k8s", r))
		if err != nil {
			t.Fatal(err)
		}
		files[r] = string(b)
	}
	kust := decodeAll(t, files)
	delete(kust, "Namespace/"+namespace) // helm install --create-namespace
	var keys []string
	for key := range kust {
		keys = append(keys, key)
	}
	for key := range helm {
		if _, ok := kust[key]; !ok {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		h, inHelm := helm[key]
		ku, inKust := kust[key]
		switch {
		case !inHelm:
			t.Errorf("%s is in deploy/k8s but the chart does not render it", key)
		case !inKust:
			t.Errorf("the chart renders %s, which deploy/k8s does not have", key)
		default:
			hc, kc := comparable(t, h), comparable(t, ku)
			if !reflect.DeepEqual(hc, kc) {
				hy, _ := yaml.Marshal(hc)
				ky, _ := yaml.Marshal(kc)
				t.Errorf("%s differs between the chart's defaults and deploy/k8s:\n%s", key, lineDiff(string(ky), string(hy)))
			}
		}
	}
	t.Logf("%d objects compared", len(keys))
}

// lineDiff shows the lines only one side has (- deploy/k8s, + chart).
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// iocConfig is the ioc.yaml of the rendered ConfigMap.
func iocConfig(t *testing.T, objs map[string]object) map[string]any {
	t.Helper()
	cm, ok := objs["ConfigMap/ioc-config"]
	if !ok {
		t.Fatal("no ConfigMap ioc-config")
	}
	var cfg map[string]any
	data, _ := cm["data"].(map[string]any)
	if err := yaml.Unmarshal([]byte(fmt.Sprint(data["ioc.yaml"])), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHelmLayouts(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		layout   string
		brokers  int
		rf       float64
		cluster  string
		servers  int
		probeRun bool
	}{
		{"single", 1, 1, "", 1, true},
		{"cluster", 3, 3, "ioc_cluster", 4, false},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			manifests := render(t, root, tc.layout)
			cfg := iocConfig(t, decodeAll(t, manifests))
			kafka, _ := cfg["kafka"].(map[string]any)
			ch, _ := cfg["clickhouse"].(map[string]any)
			brokers, _ := kafka["brokers"].([]any)
			addr, _ := ch["addr"].([]any)
			cluster, _ := ch["cluster"].(string)
			if len(brokers) != tc.brokers || kafka["replication_factor"] != tc.rf || cluster != tc.cluster || len(addr) != tc.servers {
				t.Errorf("%s layout: kafka brokers %v replication %v, clickhouse cluster %q servers %v; want %d brokers, replication %v, cluster %q, %d servers",
					tc.layout, brokers, kafka["replication_factor"], cluster, addr, tc.brokers, tc.rf, tc.cluster, tc.servers)
			}
			// The same checks as deploy/k8s: deploy/k8s_test.go on the rendered files.
			// (TestK8sChecksCanFail tests the checks, not the manifests: it runs in ./deploy.)
			tests := "TestK8sManifests"
			if tc.probeRun {
				tests += "|TestK8sProbesAnswerTheKubelet"
			}
			out, err := deployTests(t, root, manifests, tests)
			if err != nil {
				t.Fatalf("deploy/k8s_test.go on the chart's %s layout: %v\n%s", tc.layout, err, out)
			}
			summary := summarize(out)
			for _, l := range summary {
				t.Log(l)
			}
			if !slices.ContainsFunc(summary, func(l string) bool { return strings.HasPrefix(l, "--- PASS: TestK8sManifests") }) {
				t.Errorf("TestK8sManifests did not run on the rendered chart:\n%s", out)
			}
		})
	}
}

// deployTests runs tests of deploy/k8s_test.go on rendered manifests.
func deployTests(t *testing.T, root string, manifests map[string]string, tests string) (string, error) {
	t.Helper()
	dir := writeRendered(t, manifests)
	cmd := exec.Command(goTool(), "test", "-count=1", "-v", "-run", "^("+tests+")$", "./deploy/")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IOC_K8S_RENDERED="+dir, "IOC_K8S_NAMESPACE="+namespace)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Values that would deploy something unsafe are refused: by the chart
// itself, or by the deploy/k8s checks the rendered chart must pass.
func TestHelmBadValuesFail(t *testing.T) {
	root := repoRoot(t)
	// No trusted proxy listed: the chart refuses to render.
	if _, err := renderWith(t, root, "cluster", map[string]any{"dashboard.trustedProxies": []any{}}); err == nil ||
		!strings.Contains(err.Error(), "dashboard.trustedProxies") {
		t.Errorf("rendering with no trusted proxies: %v, want the chart to refuse and name dashboard.trustedProxies", err)
	}
	// The wall as the migration's account: rendered, then refused by the checks.
	m, err := renderWith(t, root, "cluster", map[string]any{"clickhouse.accounts.dashboard": "ioc_admin"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := deployTests(t, root, m, "TestK8sManifests")
	if err == nil || !strings.Contains(out, "ClickHouse account ioc_admin (the migrate Job's, which may change the schema) is also used by") {
		t.Errorf("the checks on a chart whose wall connects as ioc_admin: %v\n%s", err, out)
	}
}

// summarize keeps the verdict lines of a go test -v run.
func summarize(out string) []string {
	var l []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "ok ") || strings.Contains(line, "SKIP") {
			l = append(l, line)
		}
	}
	return l
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}
