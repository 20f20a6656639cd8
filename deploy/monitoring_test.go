package deploy_test

// Monitoring of the pipeline (deploy/prometheus, deploy/grafana) checked
// against the code: every metric an alert rule or a Grafana panel queries
// is one the binary exports, every alert has a severity, a summary and a
// runbook section in docs/operations.md, and the scrape configuration
// reaches each role's ops port.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"
)

// exportedMetrics are the series names the binary can expose: the ioc_*
// metrics its sources declare (histograms with their _bucket, _sum and
// _count series), the Go and process collectors main.go registers, and
// Prometheus's own `up`.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true, "scrape_duration_seconds": true}
	decl := regexp.MustCompile(`prometheus\.New(Counter|CounterVec|Gauge|GaugeVec|Histogram|HistogramVec|Summary|SummaryVec)\(\s*prometheus\.\w+Opts\{\s*Name:\s*"([a-z0-9_:]+)"`)
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			names[m[2]] = true
			if strings.HasPrefix(m[1], "Histogram") || strings.HasPrefix(m[1], "Summary") {
				names[m[2]+"_sum"], names[m[2]+"_count"] = true, true
				if strings.HasPrefix(m[1], "Histogram") {
					names[m[2]+"_bucket"] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, must := range []string{"ioc_stream_consumer_lag", "ioc_ingest_mqtt_connected", "ioc_stream_insert_seconds_bucket"} {
		if !names[must] {
			t.Fatalf("found no declaration of %s: has the metrics code changed shape? (%d names found)", must, len(names))
		}
	}
	return names
}

var (
	promStringRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatcherRE  = regexp.MustCompile(`\{[^{}]*\}`)
	promRangeRE    = regexp.MustCompile(`\[[^\]]*\]`)
	promGroupingRE = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdentRE    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promKeywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true, "Inf": true, "NaN": true}
)

// promMetrics lists the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges, grouping clauses,
// function calls, keywords and numbers are taken out. Grafana's $variables
// are removed first.
func promMetrics(expr string) []string {
	s := regexp.MustCompile(`\$\{?__\w+\}?|\$\{?\w+\}?`).ReplaceAllString(expr, "x")
	s = promStringRE.ReplaceAllString(s, `""`)
	s = promMatcherRE.ReplaceAllString(s, " ")
	s = promRangeRE.ReplaceAllString(s, " ")
	s = promGroupingRE.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdentRE.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promKeywords[id] || (loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.")) {
			continue // a function, a keyword, or the exponent/suffix of a number
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

type alertRules struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func strictYAML(t *testing.T, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(repoPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// headingAnchors returns the anchors GitHub gives the headings of a markdown file.
func headingAnchors(t *testing.T, rel string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(repoPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+\s+(.+?)\s*$`).FindAllStringSubmatch(string(b), -1) {
		a := strings.ToLower(m[1])
		a = regexp.MustCompile(`[^\p{L}\p{N} _-]`).ReplaceAllString(a, "")
		anchors[strings.ReplaceAll(a, " ", "-")] = true
	}
	return anchors
}

// checkQueries lists the metrics of queries that the binary does not export.
func checkQueries(where string, exprs []string, known map[string]bool) []string {
	var problems []string
	for _, e := range exprs {
		ms := promMetrics(e)
		if len(ms) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %q selects no metric", where, e))
		}
		for _, m := range ms {
			if !known[m] {
				problems = append(problems, fmt.Sprintf("%s: %s is not a metric the binary exports (query %q)", where, m, e))
			}
		}
	}
	return problems
}

func TestPromQLMetricExtraction(t *testing.T) {
	for expr, want := range map[string][]string{
		`up{job=~"ioc.*"} == 0`: {"up"},
		`sum(rate(ioc_ingest_dead_letters_total[10m])) / clamp_min(sum(rate(ioc_ingest_mqtt_acked_total[10m])), 1) > 0.05`: {"ioc_ingest_dead_letters_total", "ioc_ingest_mqtt_acked_total"},
		`histogram_quantile(0.99, sum by (le) (rate(ioc_stream_insert_seconds_bucket{job=~"$job"}[$__rate_interval])))`:    {"ioc_stream_insert_seconds_bucket"},
		`ioc_stream_clickhouse_up == 0 and on (instance) rate(ioc_stream_insert_errors_total[2m]) > 1e-3`:                  {"ioc_stream_clickhouse_up", "ioc_stream_insert_errors_total"},
		`sum without (reason) (ioc_ingest_dead_letters_total{reason!="bad_time"}) offset 5m`:                               {"ioc_ingest_dead_letters_total"},
	} {
		if got := promMetrics(expr); !slices.Equal(got, want) {
			t.Errorf("promMetrics(%q) = %v, want %v", expr, got, want)
		}
	}
	// The check itself fails on a metric the code does not have.
	known := map[string]bool{"ioc_stream_consumer_lag": true}
	if p := checkQueries("test", []string{`ioc_stream_consumer_lagg > 5`}, known); len(p) != 1 || !strings.Contains(p[0], "ioc_stream_consumer_lagg is not a metric") {
		t.Errorf("a misspelt metric passed: %v", p)
	}
	if p := checkQueries("test", []string{`vector(1)`}, known); len(p) != 1 {
		t.Errorf("a query without metric passed: %v", p)
	}
}

func TestAlertRules(t *testing.T) {
	known := exportedMetrics(t)
	var rules alertRules
	strictYAML(t, "deploy/prometheus/alerts.yml", &rules)
	anchors := headingAnchors(t, "docs/operations.md")
	seen := map[string]bool{}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			who := "alerts.yml " + r.Alert
			if r.Alert == "" {
				t.Errorf("alerts.yml group %s: a rule without alert name (recording rules belong elsewhere)", g.Name)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("%s: defined twice", who)
			}
			seen[r.Alert] = true
			for _, p := range checkQueries(who, []string{r.Expr}, known) {
				t.Error(p)
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses in %q", who, r.Expr)
			}
			if d, err := time.ParseDuration(r.For); err != nil || d < time.Minute {
				t.Errorf("%s: for %q: want a duration of at least 1m (a single bad scrape must not page)", who, r.For)
			}
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want critical, warning or info", who, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs summary and description annotations", who)
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], "docs/operations.md#")
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q is not a heading of docs/operations.md (want docs/operations.md#%s)", who, r.Annotations["runbook_url"], strings.ToLower(r.Alert))
			}
		}
	}
	// What the issue asks to be alerted on.
	for _, a := range []string{"IOCStreamLagGrowing", "IOCStreamInsertErrors", "IOCDeadLetterRateHigh", "IOCClickHouseDown", "IOCMQTTDisconnected", "IOCRoleDown"} {
		if !seen[a] {
			t.Errorf("alerts.yml: no alert %s", a)
		}
	}
	t.Logf("%d alert rules, every metric known", n)
}

func TestGrafanaDashboard(t *testing.T) {
	known := exportedMetrics(t)
	b, err := os.ReadFile(repoPath("deploy/grafana/ioc-pipeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int                      `json:"id"`
			Type    string                   `json:"type"`
			Title   string                   `json:"title"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("ioc-pipeline.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("ioc-pipeline.json: uid %q, title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			for _, pr := range checkQueries(fmt.Sprintf("panel %q", p.Title), []string{q.Expr}, known) {
				t.Error(pr)
			}
		}
	}
	// The panels cover the key metrics the README promises.
	all := string(b)
	for _, m := range []string{"ioc_ingest_queue_depth", "ioc_ingest_dead_letters_total", "ioc_stream_consumer_lag",
		"ioc_stream_insert_errors_total", "ioc_stream_clickhouse_up", "ioc_dashboard_clients", "ioc_dashboard_slow_clients_total"} {
		if !strings.Contains(all, m) {
			t.Errorf("ioc-pipeline.json: no panel shows %s", m)
		}
	}
	t.Logf("%d panels, %d queries, every metric known", len(d.Panels), queries)
}

type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
		KubernetesSDConfigs []struct {
			Role       string `yaml:"role"`
			Namespaces struct {
				Names []string `yaml:"names"`
			} `yaml:"namespaces"`
		} `yaml:"kubernetes_sd_configs"`
		RelabelConfigs []struct {
			SourceLabels []string `yaml:"source_labels"`
			Regex        string   `yaml:"regex"`
			Replacement  string   `yaml:"replacement"`
			TargetLabel  string   `yaml:"target_label"`
			Action       string   `yaml:"action"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusScrapeConfig(t *testing.T) {
	var c promConfig
	strictYAML(t, "deploy/prometheus/prometheus.yml", &c)
	for _, r := range c.RuleFiles {
		if _, err := os.Stat(repoPath("deploy/prometheus/" + r)); err != nil {
			t.Errorf("rule_files: %v", err)
		}
	}
	f := facts(t)
	cf := loadCompose(t, composeEnv)
	roles := map[string]bool{}
	for _, sc := range c.ScrapeConfigs {
		if !strings.HasPrefix(sc.JobName, "ioc") {
			t.Errorf("job %s: the alerts select job=~\"ioc.*\"", sc.JobName)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port := hostPort(target)
				roles[st.Labels["role"]] = true
				// The compose service of that name runs that role, whose ops port this is.
				s, ok := cf.Services[host]
				if !ok || role(s) != st.Labels["role"] {
					t.Errorf("job %s: target %s: no compose service %s running `ioc %s`", sc.JobName, target, host, st.Labels["role"])
					continue
				}
				eff := effective(t, host, s, imageFiles(parseDockerfile(t)))
				if want := opsPort(f, st.Labels["role"], eff); port != want {
					t.Errorf("job %s: target %s: the %s ops port is %s", sc.JobName, target, st.Labels["role"], want)
				}
			}
		}
		for _, rc := range sc.RelabelConfigs {
			if _, err := regexp.Compile(rc.Regex); rc.Regex != "" && err != nil {
				t.Errorf("job %s: relabel regex %q: %v", sc.JobName, rc.Regex, err)
			}
		}
		for _, k := range sc.KubernetesSDConfigs {
			kz, objs := loadK8s(t)
			if !slices.Contains(k.Namespaces.Names, kz.Namespace) {
				t.Errorf("job %s: kubernetes_sd namespaces %v miss the manifests' namespace %s", sc.JobName, k.Namespaces.Names, kz.Namespace)
			}
			// Every long-running pod is annotated for scraping on its ops port.
			for _, w := range workloads(objs) {
				c := w.pod.Spec.Containers[0]
				if len(c.Args) == 0 || oneShotRoles[c.Args[0]] || f.opsDefault[c.Args[0]] == "" {
					continue
				}
				a := w.pod.Annotations
				if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != f.opsDefault[c.Args[0]][1:] {
					t.Errorf("job %s: %s is not annotated prometheus.io/scrape \"true\" and prometheus.io/port %q", sc.JobName, w, f.opsDefault[c.Args[0]][1:])
				}
			}
		}
	}
	for _, r := range []string{"ingest", "stream", "dashboard"} {
		if !roles[r] {
			t.Errorf("prometheus.yml: no static target for the %s role", r)
		}
	}
}
