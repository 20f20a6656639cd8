package bench

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func peerRun() *Result {
	usage := func(name string, cpu, rss float64) WindowUsage {
		return WindowUsage{Seconds: 60, Procs: map[string]Usage{name: {CPUSeconds: cpu, PeakRSSMB: rss}, "mosquitto": {CPUSeconds: 30, PeakRSSMB: 10}}}
	}
	pipe := Step{Phase: "confirm", Tag: "s05", Offered: 37000, Acked: 37000, Window: 60, Pass: true, RoleCPUus: 14, AllCPUus: 40,
		Usage: usage("ingest", 31, 150)}
	peer := Step{Phase: "confirm", Tag: "s04", Offered: 12600, Acked: 12600, Window: 60, Pass: true, RoleCPUus: 106, AllCPUus: 150,
		Usage: usage("benthos", 80, 60)}
	return &Result{Run: "7", Setup: Setup{Mode: "roles", Records: 5, StepWindow: "20s", FinalWindow: "1m0s", LagBound: 5},
		Machine: Machine{CPU: "AMD EPYC", Cores: 2, MemGiB: 23.5},
		Peer: &PeerResult{Connections: 20, Records: 1, Devices: 10000, Benthos: "Benthos v4.27.0: mqtt → sql_insert", Config: "input:\n  mqtt: {}\n",
			Pipeline: &PeerSide{Ramp: []Step{pipe}, Max: &pipe, Load: [3]float64{3.5}},
			Peer:     &PeerSide{Ramp: []Step{peer}, Max: &peer, Load: [3]float64{2.25}}}}
}

// The comparison: the ratio of the maxima, its targets, and both systems
// side by side on one line per figure, at the end of the text report.
func TestPeerComparisonReport(t *testing.T) {
	r := peerRun()
	r.Evaluate()
	if r.Peer.Ratio != 2.94 {
		t.Errorf("ratio %v, want 37,000 / 12,600 = 2.94", r.Peer.Ratio)
	}
	got := map[string]*bool{}
	for _, tg := range r.Targets {
		got[tg.Name] = tg.Met
	}
	for name, want := range map[string]bool{
		"sustained rate, 1 per message, 20 connections":           false,
		"pipeline ÷ Benthos, 1 per message, 20 connections":       false,
		"pipeline CPU per reading, 1 per message, 20 connections": false,
	} {
		if m := got[name]; m == nil || *m != want {
			t.Errorf("target %q: %v, want %v (targets %+v)", name, m, want, r.Targets)
		}
	}
	var b strings.Builder
	r.WriteText(&b)
	text := b.String()
	for _, re := range []string{
		`readings/s sustained, zero loss\s+37,000\s+12,600\n`,
		`ratio pipeline ÷ Benthos\s+2\.94\s+1\n`,
		`CPU µs per reading, own processes\s+14\s+106\n`,
		`own processes' peak RSS MB\s+150\s+60\n`,
		`load average \(1 min\) at the search's start\s+3\.50\s+2\.25\n`,
		`machine: AMD EPYC, 2 cores`,
		`peer: Benthos v4\.27\.0: mqtt → sql_insert`,
		`\n    input:\n      mqtt: \{\}\n`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("the report lacks %q:\n%s", re, text)
		}
	}
	if i, j := strings.Index(text, "side by side"), strings.Index(text, "Targets ("); i < j {
		t.Errorf("the comparison (at %d) is not at the end (targets at %d)", i, j)
	}

	// Without Benthos, its column says so.
	r.Peer.Peer, r.Targets = nil, nil
	r.Evaluate()
	b.Reset()
	r.WriteText(&b)
	if !regexp.MustCompile(`readings/s sustained, zero loss\s+37,000\s+not run\n`).MatchString(b.String()) || r.Peer.Ratio != 0 ||
		!regexp.MustCompile(`ratio pipeline ÷ Benthos\s+–\s+–\n`).MatchString(b.String()) {
		t.Errorf("without Benthos (ratio %v):\n%s", r.Peer.Ratio, b.String())
	}
}

// The peer block of docs/performance.md is its own, beside the latest
// results: it is replaced, the text around it kept, and a run of the
// comparison alone leaves the latest results as they were.
func TestUpdateDocWritesThePeerBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perf.md")
	if err := os.WriteFile(path, []byte("# Performance\n\n## The peer\n\n"+peerDocBegin+"\nold\n"+peerDocEnd+"\n\n## Notes\nkept\n\n"+
		docBegin+"\nkept latest\n"+docEnd+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := peerRun()
	r.Evaluate()
	for i := 0; i < 2; i++ {
		if err := r.UpdateDoc(path); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	doc := string(b)
	if strings.Count(doc, peerDocBegin) != 1 || strings.Count(doc, docBegin) != 1 || strings.Contains(doc, "\nold\n") ||
		!strings.Contains(doc, "## Notes\nkept\n") || !strings.HasPrefix(doc, "# Performance\n\n## The peer\n\n"+peerDocBegin) {
		t.Errorf("document after two updates:\n%s", doc)
	}
	latest := doc[strings.Index(doc, docBegin):strings.Index(doc, docEnd)]
	if !strings.Contains(latest, "\nkept latest\n") {
		t.Errorf("a run of the comparison alone replaced the latest results:\n%s", latest)
	}
	peer := doc[strings.Index(doc, peerDocBegin):strings.Index(doc, peerDocEnd)]
	for _, want := range []string{"| readings/s sustained, zero loss | 37,000 | 12,600 |", "| ratio pipeline ÷ Benthos | 2.94 | 1 |",
		"```yaml\ninput:\n  mqtt: {}\n```", "machine: AMD EPYC, 2 cores"} {
		if !strings.Contains(peer, want) {
			t.Errorf("the peer block lacks %q:\n%s", want, peer)
		}
	}
}
