package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Result is everything a run measured; it is written as JSON and rendered
// as the table.
type Result struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Run      string    `json:"run"`
	Smoke    bool      `json:"smoke"`
	Machine  Machine   `json:"machine"`
	Setup    Setup     `json:"setup"`

	Fanout *FanoutResult `json:"fanout,omitempty"`
	Ramp   []Step        `json:"ramp"`
	// Max is the confirmed window: the maximum sustained rate.
	Max     *Step       `json:"max,omitempty"`
	Latency []Step      `json:"latency"`
	Hops    []HopResult `json:"hops"`
	// Peer is the comparison with Benthos at one reading per message.
	Peer *PeerResult `json:"peer,omitempty"`

	SlowestHop string   `json:"slowest_hop,omitempty"`
	Ratio      float64  `json:"ratio_to_slowest_hop,omitempty"`
	Targets    []Target `json:"targets"`
	Errors     []string `json:"errors,omitempty"`
}

// Setup records how the run was made, so that it can be repeated.
type Setup struct {
	Mode          string   `json:"mode"`
	Connections   int      `json:"connections"`
	Devices       int      `json:"devices"`
	Records       int      `json:"readings_per_message"`
	ProbeFraction float64  `json:"probe_fraction"`
	StepWindow    string   `json:"step_window"`
	FinalWindow   string   `json:"final_window"`
	LagBound      float64  `json:"lag_bound_s"`
	CHPoll        string   `json:"clickhouse_poll"`
	Settings      []string `json:"settings,omitempty"`
	Command       string   `json:"command"`
	// Commit is the repository's HEAD when the run started ("+dirty" when
	// the working tree had changes, which the ioc binary may include).
	Commit string `json:"commit,omitempty"`
}

// RepoCommit describes the repository's state for Setup.Commit.
func RepoCommit(repo string) string {
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}

// Target is one goal of the issue, met or not.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Met is nil when the run did not measure it.
	Met *bool `json:"met"`
}

func met(b bool) *bool { return &b }

// Evaluate fills the ratio to the slowest hop and the targets.
func (r *Result) Evaluate() {
	slowest := math.Inf(1)
	for _, h := range r.Hops {
		if h.Error == "" && h.MaxRate > 0 && h.MaxRate < slowest {
			slowest, r.SlowestHop = h.MaxRate, h.Hop
		}
	}
	maxRate := 0.0
	if r.Max != nil {
		maxRate = r.Max.Offered
		if r.SlowestHop != "" {
			r.Ratio = math.Round(maxRate/slowest*100) / 100
		}
	}
	t := func(name, want, got string, m *bool) { r.Targets = append(r.Targets, Target{name, want, got, m}) }
	if r.Max != nil {
		t("sustained rate, zero loss", "≥ 50,000 readings/s (stretch 100,000)", fmt.Sprintf("%s/s", num(maxRate)), met(maxRate >= 50000))
	} else if len(r.Ramp) > 0 {
		t("sustained rate, zero loss", "≥ 50,000 readings/s (stretch 100,000)", "no rate was sustained", met(false))
	}
	if r.Ratio > 0 {
		t("pipeline vs slowest hop alone", "≥ 0.5", fmt.Sprintf("%.2f (%s %s/s)", r.Ratio, r.SlowestHop, num(slowest)), met(r.Ratio >= 0.5))
	}
	var at10k *Step
	for i := range r.Latency {
		if r.Latency[i].Offered == 10000 {
			at10k = &r.Latency[i]
		}
	}
	if at10k != nil && at10k.ToWall.Latency.Count > 0 {
		got := fmt.Sprintf("%s ms", num(at10k.ToWall.Latency.P99))
		if !at10k.Pass {
			got += " (10,000/s not sustained: " + at10k.Why + ")"
		}
		t("p99 publish → websocket at 10,000 readings/s", "≤ 50 ms", got, met(at10k.Pass && at10k.ToWall.Latency.P99 <= 50))
	}
	if f := r.Fanout; f != nil {
		t("websocket fan-out", "10,000 clients, 1 update/s, none dropped",
			fmt.Sprintf("%s clients, %.1f %% of frames delivered, %s dropped", num(float64(f.Wall.Clients)), f.Wall.Delivered*100,
				num(float64(f.Wall.Disconnects))), met(f.Pass && f.Wall.Clients >= 10000))

		if f.HealthyP99Change != nil {
			t("fan-out with 1 % of clients stalled", "healthy clients' p99 < +10 %",
				fmt.Sprintf("%+.1f %% (%s → %s ms)", *f.HealthyP99Change*100, num(f.Wall.Latency.P99), num(f.Stalled.Wall.Latency.P99)),
				met(*f.HealthyP99Change < 0.10 && f.Stalled.Wall.Disconnects == 0))
		}
	}
	// Pipeline RSS at 50,000 readings/s: the sustained window nearest
	// above that rate.
	var rssStep *Step
	for _, s := range r.sustained() {
		if s.Offered >= 50000 && (rssStep == nil || s.Offered < rssStep.Offered) {
			rssStep = s
		}
	}
	if rssStep != nil {
		rss := roleRSS(rssStep.Usage)
		t("pipeline RSS at 50,000 readings/s", "≤ 300 MB", fmt.Sprintf("%s MB at %s/s", num(rss), num(rssStep.Offered)), met(rss <= 300))
	} else if r.Max != nil {
		t("pipeline RSS at 50,000 readings/s", "≤ 300 MB",
			fmt.Sprintf("not sustained; %s MB at %s/s", num(roleRSS(r.Max.Usage)), num(r.Max.Offered)), nil)
	}
	if r.Peer != nil {
		r.Peer.evaluate(r)
	}
	var inserts float64
	var parts uint64
	for _, s := range r.sustained() {
		inserts = max(inserts, s.InsertsPerS)
	}
	for _, s := range append(append([]Step{}, r.Ramp...), r.Latency...) {
		parts = max(parts, s.MaxParts)
	}
	if len(r.Ramp)+len(r.Latency) > 0 {
		t("ClickHouse inserts per table", "≤ 2 per second", fmt.Sprintf("%.2f/s (sustained windows)", inserts), met(inserts <= 2))
		t("ClickHouse active parts", "< 300", fmt.Sprint(parts), met(parts < 300))
	}
}

func (r *Result) sustained() []*Step {
	var out []*Step
	for i := range r.Ramp {
		if r.Ramp[i].Pass {
			out = append(out, &r.Ramp[i])
		}
	}
	for i := range r.Latency {
		if r.Latency[i].Pass {
			out = append(out, &r.Latency[i])
		}
	}
	return out
}

func roleRSS(u WindowUsage) float64 {
	var s float64
	for name, p := range u.Procs {
		if ownProc(name) {
			s += p.PeakRSSMB
		}
	}
	return round1(s)
}

// num formats with thousands separators and at most one decimal.
func num(v float64) string {
	neg := v < 0
	v = math.Abs(v)
	s := fmt.Sprintf("%.1f", v)
	if v >= 100 || v == math.Trunc(v) {
		s = fmt.Sprintf("%.0f", v)
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func lat(s Summary) string {
	if s.Count == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", num(s.P50), num(s.P99), num(s.P999))
}

// table is a list of rows rendered either as aligned text or markdown.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) text(w io.Writer, indent string) {
	width := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			pad := width[i] - len([]rune(c))
			if i == 0 {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString("  " + strings.Repeat(" ", pad) + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.head)
	for _, r := range t.rows {
		line(r)
	}
}

func (t *table) markdown(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(t.head, " | ")+" |")
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = "---:"
		if i == 0 {
			sep[i] = "---"
		}
	}
	fmt.Fprintln(w, "| "+strings.Join(sep, " | ")+" |")
	for _, r := range t.rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
}

// sections renders the report as headed tables, shared by the text and
// markdown forms.
type section struct {
	title string
	lines []string
	tab   *table
	code  string // a block shown verbatim (a configuration)
}

func (r *Result) sections() []section {
	var out []section
	m := r.Machine
	head := []string{
		fmt.Sprintf("run %s, %s → %s UTC%s", r.Run, r.Started.UTC().Format("2006-01-02 15:04"), r.Finished.UTC().Format("15:04"),
			map[bool]string{true: " (smoke: tiny rates, figures meaningless)", false: ""}[r.Smoke]),
		fmt.Sprintf("machine: %s, %d cores, %.1f GiB, Linux %s, %s; load average (1 min) %.2f at start, %.2f at end",
			m.CPU, m.Cores, m.MemGiB, m.Kernel, m.Go, m.LoadFrom[0], m.LoadTo[0]),
		fmt.Sprintf("commit %s; command: %s", r.Setup.Commit, r.Setup.Command),
		fmt.Sprintf("load: %s devices on %d MQTT connections (QoS 1), %d readings per message (SenML), open loop; roles as %s",
			num(float64(r.Setup.Devices)), r.Setup.Connections, r.Setup.Records,
			map[string]string{"roles": "three processes (ingest, stream, dashboard)", "run": "one `ioc run` process"}[r.Setup.Mode]),
	}
	if len(r.Setup.Settings) > 0 {
		head = append(head, "pipeline settings: "+strings.Join(r.Setup.Settings, ", "))
	}
	out = append(out, section{title: "IOC pipeline benchmark", lines: head})

	if r.Max != nil {
		lines := []string{fmt.Sprintf("%s readings/s (%s messages/s) sustained for %s s with zero loss",
			num(r.Max.Offered), num(r.Max.Offered/float64(r.Setup.Records)), num(r.Max.Window))}
		if r.SlowestHop != "" {
			lines = append(lines, fmt.Sprintf("= %.2f × the slowest hop alone (%s)", r.Ratio, r.SlowestHop))
		}
		out = append(out, section{title: "Maximum sustained rate, MQTT → Kafka → ClickHouse", lines: lines})
	} else if len(r.Ramp) > 0 {
		out = append(out, section{title: "Maximum sustained rate, MQTT → Kafka → ClickHouse", lines: []string{"no rate was sustained; see the ramp"}})
	}

	if len(r.Latency) > 0 {
		t := &table{head: []string{"offered", "→ ClickHouse p50 / p99 / p99.9 ms", "→ websocket p50 / p99 / p99.9 ms", "sustained", "load"}}
		for _, s := range r.Latency {
			t.add(num(s.Offered)+"/s", lat(s.ToClickHouse), lat(s.ToWall.Latency), yes(s.Pass), fmt.Sprintf("%.2f", s.Usage.Load1))
		}
		out = append(out, section{title: "Latency from publish", tab: t, lines: []string{
			"ClickHouse: probe readings (a share of all messages), polled every " + r.Setup.CHPoll + "; websocket: every reading of every frame."}})
	}

	if r.Max != nil {
		out = append(out, section{title: fmt.Sprintf("CPU and memory at the maximum (%s s window)", num(r.Max.Window)),
			tab: usageTable(r.Max.Usage, int64(r.Max.Acked*r.Max.Window)),
			lines: []string{fmt.Sprintf("CPU per reading: %s µs in the ioc roles, %s µs in everything measured; "+
				"\"other\" is what the rest of the machine used meanwhile", num(r.Max.RoleCPUus), num(r.Max.AllCPUus))}})
	}

	if len(r.Hops) > 0 {
		t := &table{head: []string{"hop alone", "max readings/s", "latency p50 / p99 / p99.9 ms", "at", "CPU µs/reading", "peak RSS MB", "note"}}
		for _, h := range r.Hops {
			var rss []string
			names := make([]string, 0, len(h.Usage.Procs))
			for n := range h.Usage.Procs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if n == "iocbench" && h.Hop == "clickhouse" {
					continue
				}
				rss = append(rss, fmt.Sprintf("%s %s", n, num(h.Usage.Procs[n].PeakRSSMB)))
			}
			note := h.Error
			t.add(h.Hop, num(h.MaxRate), lat(h.Latency), num(h.LatencyRate)+"/s", num(h.CPUus), strings.Join(rss, ", "), note)
		}
		out = append(out, section{title: "Each hop alone (same readings)", tab: t, lines: []string{
			"max: saturated, closed loop; latency: open loop. Broker: paho publishers → one paho subscriber, QoS 1. " +
				"Kafka: kafka-go producers (RequireAll) → group consumer. ClickHouse: clickhouse-client bulk insert (TabSeparated); " +
				"its latency is one insert of a second's rows, client start-up included."}})
	}

	if f := r.Fanout; f != nil {
		lines := []string{fmt.Sprintf("%s clients connected in %s s; %.1f updates/s for %s s: each client got %s frames, %.2f %% delivered; latency p50 / p99 / p99.9 %s ms; %s dropped (%s as slow)",
			num(float64(f.Wall.Clients)), num(f.Wall.ConnectSeconds), f.UpdatesPerS, num(f.Usage.Seconds), num(float64(f.Wall.FramesPerClient)),
			f.Wall.Delivered*100, lat(f.Wall.Latency), num(float64(f.Wall.Disconnects)), num(f.SlowClients))}
		if u, ok := f.Usage.Procs["dashboard"]; ok {
			lines = append(lines, fmt.Sprintf("dashboard: %s CPU s, peak RSS %s MB", num(u.CPUSeconds), num(u.PeakRSSMB)))
		} else if u, ok := f.Usage.Procs["run"]; ok {
			lines = append(lines, fmt.Sprintf("ioc run: %s CPU s, peak RSS %s MB", num(u.CPUSeconds), num(u.PeakRSSMB)))
		}
		if f.Why != "" {
			lines = append(lines, "not met: "+f.Why)
		}
		t := &table{head: []string{"clients", "stalled", "frames/s per client", "delivered", "coalesced", "p50 / p99 / p99.9 ms", "dropped (slow)", "dashboard CPU s", "dashboard peak RSS MB", "result"}}
		row := func(w FanoutResult) {
			u := w.Usage.Procs["dashboard"]
			if _, ok := w.Usage.Procs["run"]; ok {
				u = w.Usage.Procs["run"]
			}
			perClient := 0.0
			if w.Usage.Seconds > 0 {
				perClient = float64(w.Wall.FramesPerClient) / w.Usage.Seconds
			}
			res := "ok"
			if !w.Pass {
				res = "not met: " + w.Why
			}
			t.add(num(float64(w.Wall.Clients)), num(float64(w.Wall.Stalled)), fmt.Sprintf("%.2f", perClient),
				fmt.Sprintf("%.2f %%", w.Wall.Delivered*100), num(float64(w.Wall.CoalescedClients)), lat(w.Wall.Latency),
				fmt.Sprintf("%s (%s)", num(float64(w.Wall.Disconnects)), num(w.SlowClients)), num(u.CPUSeconds), num(u.PeakRSSMB), res)
		}
		for _, st := range f.Steps {
			row(st)
		}
		row(*f)
		if f.Stalled != nil {
			row(*f.Stalled)
		}
		if f.HealthyP99Change != nil {
			lines = append(lines, fmt.Sprintf("with %s of %s clients stalled, the healthy clients' p99 changed by %+.1f %% (bound: under +10 %%)",
				num(float64(f.Stalled.Wall.Stalled)), num(float64(f.Clients)), *f.HealthyP99Change*100))
		}
		out = append(out, section{title: "Wall fan-out", lines: lines, tab: t})
	}

	if len(r.Ramp) > 0 {
		out = append(out, section{title: "Search for the maximum (each window: open loop, then drained and counted)", tab: rampTable(r.Ramp)})
	}

	if len(r.Targets) > 0 {
		t := &table{head: []string{"target", "want", "got", "met"}}
		for _, g := range r.Targets {
			m := "not measured"
			if g.Met != nil {
				m = map[bool]string{true: "yes", false: "NO"}[*g.Met]
			}
			t.add(g.Name, g.Want, g.Got, m)
		}
		out = append(out, section{title: "Targets (2-core, 24 GiB machine, everything on it)", tab: t})
	}
	if len(r.Errors) > 0 {
		out = append(out, section{title: "Errors", lines: r.Errors})
	}
	return out
}

// rampTable lists the windows of a search.
func rampTable(steps []Step) *table {
	t := &table{head: []string{"window", "offered/s", "acked/s", "backlog max s", "growth", "drain s", "inserts/s", "parts",
		"CH p99 ms", "ws p99 ms", "own µs/rdg", "own RSS MB", "retried errors", "other CPU s", "steal s", "load", "result"}}
	for _, s := range steps {
		res := "sustained"
		if !s.Pass {
			res = "not sustained: " + s.Why
		}
		t.add(s.Phase+" "+num(s.Window)+" s", num(s.Offered), num(s.Acked), num(s.BacklogMaxS), fmt.Sprintf("%+.1f %%", s.BacklogGrowth*100),
			num(s.Drain), fmt.Sprintf("%.2f", s.InsertsPerS), fmt.Sprint(s.MaxParts), num(s.ToClickHouse.P99), num(s.ToWall.Latency.P99),
			num(s.RoleCPUus), num(roleRSS(s.Usage)), num(s.KafkaWriteErrors+s.CHInsertErrors), num(s.Usage.OtherCPU),
			num(s.Usage.StealCPU), fmt.Sprintf("%.2f", s.Usage.Load1), res)
	}
	return t
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func usageTable(u WindowUsage, readings int64) *table {
	t := &table{head: []string{"process", "CPU s", "cores", "peak RSS MB", "µs/reading"}}
	order := []string{"ingest", "stream", "dashboard", "run", "benthos", "mosquitto", "kafka", "clickhouse", "iocbench"}
	for _, n := range order {
		p, ok := u.Procs[n]
		if !ok {
			continue
		}
		per := "–"
		if readings > 0 {
			per = num(p.CPUSeconds / float64(readings) * 1e6)
		}
		t.add(n, num(p.CPUSeconds), fmt.Sprintf("%.2f", p.CPUSeconds/u.Seconds), num(p.PeakRSSMB), per)
	}
	t.add("other (machine − measured)", num(u.OtherCPU), fmt.Sprintf("%.2f", u.OtherCPU/u.Seconds), "", "")
	t.add("steal (host ran other VMs)", num(u.StealCPU), fmt.Sprintf("%.2f", u.StealCPU/u.Seconds), "", "")
	return t
}

// WriteText prints the report for a terminal; the comparison with the
// peer comes last.
func (r *Result) WriteText(w io.Writer) {
	secs := r.sections()
	if r.Peer != nil {
		secs = append(secs, r.Peer.sections(r)...)
	}
	for _, s := range secs {
		fmt.Fprintln(w)
		fmt.Fprintln(w, s.title)
		for _, l := range s.lines {
			fmt.Fprintln(w, "  "+l)
		}
		if s.tab != nil {
			s.tab.text(w, "  ")
		}
		if s.code != "" {
			for _, l := range strings.Split(strings.TrimRight(s.code, "\n"), "\n") {
				fmt.Fprintln(w, "    "+l)
			}
		}
	}
}

// WriteMarkdown renders the report for docs/performance.md.
func (r *Result) WriteMarkdown(w io.Writer) {
	secs := r.sections()
	for _, l := range secs[0].lines {
		fmt.Fprintln(w, "- "+l)
	}
	if len(secs) > 1 {
		fmt.Fprintln(w)
		writeSectionsMarkdown(w, secs[1:])
	}
}

// WriteJSON stores the result.
func (r *Result) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// measuredMain tells whether the run measured any phase of the
// latest-results block (fan-out, ramp, latency, hops).
func (r *Result) measuredMain() bool {
	return r.Fanout != nil || len(r.Ramp) > 0 || len(r.Latency) > 0 || len(r.Hops) > 0 || r.Peer == nil
}

const (
	docBegin = "<!-- bench:latest:begin (written by iocbench -doc; edit outside these markers) -->"
	docEnd   = "<!-- bench:latest:end -->"
)

// UpdateDoc replaces the latest-results block of a markdown file, or
// appends one if the markers are missing, and likewise the peer block. A
// run that measured only the comparison with the peer (-skip
// fanout,ramp,latency,hops) leaves the latest-results block as it was.
func (r *Result) UpdateDoc(path string) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(b)
	if r.measuredMain() {
		var md strings.Builder
		r.WriteMarkdown(&md)
		doc = replaceBlock(doc, docBegin, docEnd, md.String())
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return err
	}
	return r.updatePeerDoc(path)
}
