package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// PeerResult is the comparison at one reading per message: the pipeline
// and the peer (Benthos), each searched for its maximum with the same
// open-loop generator, the same windows and the same criteria (zero loss,
// counted in ClickHouse).
type PeerResult struct {
	Connections int       `json:"connections"`
	Records     int       `json:"readings_per_message"`
	Devices     int       `json:"devices"`
	Benthos     string    `json:"benthos,omitempty"`        // PeerConfig.Summary
	Config      string    `json:"benthos_config,omitempty"` // the YAML it ran
	Pipeline    *PeerSide `json:"pipeline,omitempty"`       // nil: not run (-skip single)
	Peer        *PeerSide `json:"peer,omitempty"`           // nil: Benthos not run (no -benthos, or -skip peer)
	// Ratio is the pipeline's maximum ÷ Benthos's (0: one of them unknown).
	Ratio float64 `json:"ratio,omitempty"`
}

// PeerSide is one system's search at the peer's load shape.
type PeerSide struct {
	Ramp []Step `json:"ramp"`
	Max  *Step  `json:"max,omitempty"`
	// Load is the load average when the search began.
	Load  [3]float64 `json:"load_start"`
	Error string     `json:"error,omitempty"`
}

// evaluate sets the ratio and appends the targets of the comparison.
func (pr *PeerResult) evaluate(r *Result) {
	t := func(name, want, got string, m *bool) { r.Targets = append(r.Targets, Target{name, want, got, m}) }
	shape := fmt.Sprintf("%d per message, %d connections", pr.Records, pr.Connections)
	var pipe *Step
	if pr.Pipeline != nil {
		pipe = pr.Pipeline.Max
	}
	switch {
	case pipe != nil:
		t("sustained rate, "+shape, "≥ 50,000 readings/s", fmt.Sprintf("%s/s", num(pipe.Offered)), met(pipe.Offered >= 50000))
		t("pipeline CPU per reading, "+shape, "≤ 10 µs at the maximum", fmt.Sprintf("%s µs", num(pipe.RoleCPUus)), met(pipe.RoleCPUus <= 10))
	case pr.Pipeline != nil && len(pr.Pipeline.Ramp) > 0:
		t("sustained rate, "+shape, "≥ 50,000 readings/s", "no rate was sustained", met(false))
	}
	pr.Ratio = 0
	if pr.Peer != nil && pr.Peer.Max != nil && pipe != nil && pr.Peer.Max.Offered > 0 {
		pr.Ratio = math.Round(pipe.Offered/pr.Peer.Max.Offered*100) / 100
		t("pipeline ÷ Benthos, "+shape, "≥ 4", fmt.Sprintf("%.2f (%s/s ÷ %s/s)", pr.Ratio, num(pipe.Offered), num(pr.Peer.Max.Offered)),
			met(pr.Ratio >= 4))
	} else if pr.Peer != nil {
		t("pipeline ÷ Benthos, "+shape, "≥ 4", "not measured: a maximum is missing", nil)
	}
}

func (s *PeerSide) maxCell(f func(*Step) string) string {
	switch {
	case s == nil:
		return "not run"
	case s.Max == nil && s.Error != "":
		return "failed"
	case s.Max == nil:
		return "no rate sustained"
	}
	return f(s.Max)
}

// sections renders the comparison: the machine and the load, the side by
// side table, Benthos's configuration and each side's search.
func (pr *PeerResult) sections(r *Result) []section {
	m := r.Machine
	w := readingsWord(pr.Records)
	title := fmt.Sprintf("%s per message over %d connections: the pipeline and %s side by side", strings.ToUpper(w[:1])+w[1:],
		pr.Connections, PeerVersion)
	mode := map[string]string{"roles": "three processes (ingest, stream, dashboard)", "run": "one `ioc run` process"}[r.Setup.Mode]
	lines := []string{
		fmt.Sprintf("run %s, %s → %s UTC%s; commit %s; command: %s", r.Run, r.Started.UTC().Format("2006-01-02 15:04"), r.Finished.UTC().Format("15:04"),
			map[bool]string{true: " (smoke: tiny rates, figures meaningless)", false: ""}[r.Smoke], r.Setup.Commit, r.Setup.Command),
		fmt.Sprintf("machine: %s, %d cores, %.1f GiB, Linux %s, %s; Mosquitto, Kafka, ClickHouse and the load generator on it too; "+
			"load average (1 min) %.2f at start, %.2f at end", m.CPU, m.Cores, m.MemGiB, m.Kernel, m.Go, m.LoadFrom[0], m.LoadTo[0]),
		fmt.Sprintf("load: %s devices on %d MQTT connections (QoS 1), %s per SenML message, open loop; the same generator, windows (%s, confirmed for %s) and criteria (zero loss counted in ClickHouse, backlog ≤ %.1f s and not growing) for both",
			num(float64(pr.Devices)), pr.Connections, readingsWord(pr.Records), r.Setup.StepWindow, r.Setup.FinalWindow, r.Setup.LagBound),
		"pipeline: MQTT → ingest → Kafka → stream → ClickHouse, roles as " + mode,
	}
	if pr.Peer != nil {
		lines = append(lines, "peer: "+pr.Benthos+"; its own topics and database (dropped at the end); the pipeline is stopped while it runs")
	}
	own := func(s *Step) string { return num(roleRSS(s.Usage)) }
	t := &table{head: []string{"at the maximum", "pipeline", PeerVersion}}
	row := func(name string, f func(*Step) string) { t.add(name, pr.Pipeline.maxCell(f), pr.Peer.maxCell(f)) }
	row("readings/s sustained, zero loss", func(s *Step) string { return num(s.Offered) })
	if pr.Ratio > 0 {
		t.add("ratio pipeline ÷ Benthos", fmt.Sprintf("%.2f", pr.Ratio), "1")
	} else {
		t.add("ratio pipeline ÷ Benthos", "–", "–")
	}
	row("CPU µs per reading, own processes", func(s *Step) string { return num(s.RoleCPUus) })
	row("CPU µs per reading, everything measured", func(s *Step) string { return num(s.AllCPUus) })
	row("own processes' peak RSS MB", own)
	row("publish → ClickHouse p50 / p99 ms", func(s *Step) string {
		if s.ToClickHouse.Count == 0 {
			return "–"
		}
		return num(s.ToClickHouse.P50) + " / " + num(s.ToClickHouse.P99)
	})
	row("confirmation window s", func(s *Step) string { return num(s.Window) })
	t.add("load average (1 min) at the search's start", sideLoad(pr.Pipeline), sideLoad(pr.Peer))
	out := []section{{title: title, lines: lines, tab: t}}
	var errs []string
	if pr.Pipeline != nil && pr.Pipeline.Error != "" {
		errs = append(errs, "pipeline: "+pr.Pipeline.Error)
	}
	if pr.Peer != nil && pr.Peer.Error != "" {
		errs = append(errs, "Benthos: "+pr.Peer.Error)
	}
	if len(errs) > 0 {
		out = append(out, section{title: "Errors of the comparison", lines: errs})
	}
	if pr.Config != "" {
		out = append(out, section{title: "Benthos configuration (as run; ports and names are the run's)", code: pr.Config})
	}
	if pr.Pipeline != nil && len(pr.Pipeline.Ramp) > 0 {
		out = append(out, section{title: "Pipeline search at this shape", tab: rampTable(pr.Pipeline.Ramp)})
	}
	if pr.Peer != nil && len(pr.Peer.Ramp) > 0 {
		out = append(out, section{title: "Benthos search at this shape", tab: rampTable(pr.Peer.Ramp)})
	}
	return out
}

func readingsWord(n int) string {
	if n == 1 {
		return "one reading"
	}
	return fmt.Sprintf("%d readings", n)
}

func sideLoad(s *PeerSide) string {
	if s == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", s.Load[0])
}

const (
	peerDocBegin = "<!-- bench:peer:begin (written by iocbench -doc; edit outside these markers) -->"
	peerDocEnd   = "<!-- bench:peer:end -->"
)

// replaceBlock puts body between begin and end in doc, or appends the
// block when the markers are missing.
func replaceBlock(doc, begin, end, body string) string {
	block := begin + "\n\n" + body + "\n" + end
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i >= 0 && j > i {
		return doc[:i] + block + doc[j+len(end):]
	}
	return doc + "\n" + block + "\n"
}

func writeSectionsMarkdown(w io.Writer, secs []section) {
	for i, s := range secs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "**"+s.title+"**")
		fmt.Fprintln(w)
		for _, l := range s.lines {
			fmt.Fprintln(w, l+"  ")
		}
		if s.tab != nil {
			if len(s.lines) > 0 {
				fmt.Fprintln(w)
			}
			s.tab.markdown(w)
		}
		if s.code != "" {
			fmt.Fprintln(w, "```yaml")
			fmt.Fprint(w, strings.TrimRight(s.code, "\n")+"\n")
			fmt.Fprintln(w, "```")
		}
	}
}

// updatePeerDoc refreshes the peer block of a document.
func (r *Result) updatePeerDoc(path string) error {
	if r.Peer == nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var md strings.Builder
	writeSectionsMarkdown(&md, r.Peer.sections(r))
	return os.WriteFile(path, []byte(replaceBlock(string(b), peerDocBegin, peerDocEnd, md.String())), 0o644)
}
