package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/event"
)

func TestSummaryPercentiles(t *testing.T) {
	r := NewRecorder(1000)
	for i := int64(1); i <= 1000; i++ {
		r.Add(i * 1000) // 1..1000 ms
	}
	s := r.Summary()
	if s.Count != 1000 || s.P50 != 500 || s.P99 != 990 || s.P999 != 999 || s.Max != 1000 {
		t.Errorf("summary %+v", s)
	}
	if (&Recorder{cap: 1}).Summary() != (Summary{}) {
		t.Error("empty recorder should give a zero summary")
	}
}

func TestRecorderKeepsAUniformSample(t *testing.T) {
	r := NewRecorder(1000)
	for i := int64(0); i < 100000; i++ {
		r.Add(i)
	}
	s := r.Summary()
	if s.Count != 100000 || s.Max != ms(99999) {
		t.Errorf("count %d max %v", s.Count, s.Max)
	}
	// The median of a uniform sample of 0..99999 µs lies near 50 ms.
	if s.P50 < 40 || s.P50 > 60 {
		t.Errorf("p50 %v ms of a sample of 0..100 ms", s.P50)
	}
}

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}, 2},
		{[]float64{0, 1, 2, 3}, []float64{5, 5, 5, 5}, 0},
		{[]float64{1}, []float64{1}, 0},
		{[]float64{2, 2}, []float64{1, 3}, 0},
	} {
		if got := slope(tc.x, tc.y); got != tc.want {
			t.Errorf("slope(%v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}

func TestBacklogFiguresIgnoreTheWarmUp(t *testing.T) {
	var s []backlogSample
	for i := 0; i < 60; i++ {
		b := 500.0
		if i < 8 {
			b = 5000 // warm-up spike, before settle
		}
		s = append(s, backlogSample{float64(i) * 0.25, b + float64(i)*10})
	}
	mx, growth := backlogFigures(s, 2, 1000)
	if mx != 1.09 || growth != 0.04 {
		t.Errorf("max %v s, growth %v", mx, growth)
	}
	if _, growth := backlogFigures(s[:40], 2, 1000); growth != 0 {
		t.Errorf("growth %v judged over less than %d s", growth, minGrowthSpan)
	}
}

func TestPackIsValidSenMLWithDistinctMetrics(t *testing.T) {
	for _, n := range []int{1, 5, 10, 23} {
		b := AppendPack(nil, 1764000000123000, 3, n, 42)
		now := time.UnixMilli(1764000000123)
		rs, err := payload.Decoder{Limits: event.DefaultLimits}.Decode(nil, "vnpt", "d1", b, now)
		if err != nil {
			t.Fatalf("%d readings: %v\n%s", n, err, b)
		}
		seen := map[string]bool{}
		for _, r := range rs {
			if r.ObservedMs != 1764000000123 || seen[r.Metric] {
				t.Errorf("%d readings: reading %+v (metric repeated or time wrong)", n, r)
			}
			seen[r.Metric] = true
		}
		if len(rs) != n {
			t.Errorf("%d readings decoded, want %d", len(rs), n)
		}
		if us, ok := packTime(b); !ok || us != 1764000000123000 {
			t.Errorf("packTime = %d, %v", us, ok)
		}
	}
	if us, ok := packTime(AppendPack(nil, 1764000000123456, 6, 1, 0)); !ok || us != 1764000000123456 {
		t.Errorf("microsecond pack time = %d, %v", us, ok)
	}
}

func TestFrameTimes(t *testing.T) {
	for _, tc := range []struct {
		frame string
		want  []int64
	}{
		{`{"type":"delta","ch":"wall","epoch":"e","seq":4,"from":4,"server_ms":9,"set":{"d/a":{"last":18,"m":{"pm25":{"v":1,"t":17},"pm10":{"v":2,"t":20}}}},"del":[]}`, []int64{17, 20}},
		{`{"type":"snapshot","ch":"wall","epoch":"e","seq":3,"from":0,"server_ms":9,"part":0,"last":true,"set":{"d/a":{"m":{"pm25":{"v":1,"t":17}}}},"del":[]}`, nil},
		{`{"type":"delta","ch":"wall","epoch":"e","seq":5,"from":5,"server_ms":9,"set":{"u/x":{"p":"vnpt","first":1,"last":2,"n":1,"m":["pm25"]},"t/aqi/60000":{"avg":1,"max":1,"n":1}},"del":[]}`, nil},
	} {
		var got []int64
		frameTimes([]byte(tc.frame), func(v int64) { got = append(got, v) })
		if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
			t.Errorf("%s: got %v, want %v", tc.frame, got, tc.want)
		}
	}
}

func TestJudge(t *testing.T) {
	ok := Step{Schedule: ScheduleStats{LagP99: 5}, BacklogMaxS: 1.2, BacklogGrowth: 0.01}
	for name, tc := range map[string]struct {
		s       Step
		drained bool
		pass    bool
		why     string
	}{
		"sustained":       {ok, true, true, ""},
		"generator late":  {func() Step { s := ok; s.Schedule.LagP99 = 300; return s }(), true, false, "behind schedule"},
		"publish failed":  {func() Step { s := ok; s.Failed = 3; return s }(), true, false, "3 publishes failed"},
		"acks late":       {func() Step { s := ok; s.Unacked = 7; return s }(), true, false, "7 publishes not acknowledged"},
		"not drained":     {ok, false, false, "missing"},
		"lost":            {func() Step { s := ok; s.Lost = 1; return s }(), true, false, "1 readings lost"},
		"backlog too big": {func() Step { s := ok; s.BacklogMaxS = 9; return s }(), true, false, "bound 5.0"},
		"backlog grows":   {func() Step { s := ok; s.BacklogGrowth = 0.2; return s }(), true, false, "grew by 20 %"},
	} {
		pass, why := judge(tc.s, tc.drained, 5)
		if pass != tc.pass || !strings.Contains(why, tc.why) {
			t.Errorf("%s: pass %v (%s)", name, pass, why)
		}
	}
}

func TestRoundRateAndNumbers(t *testing.T) {
	for in, want := range map[float64]float64{15000: 15000, 22500: 23000, 33750: 34000, 123456: 123000, 0: 0, 999: 1000} {
		if got := roundRate(in); got != want {
			t.Errorf("roundRate(%v) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[float64]string{1234567: "1,234,567", 12.34: "12.3", 100: "100", 0: "0", 999.95: "1,000", -2500: "-2,500"} {
		if got := num(in); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP x y
# TYPE ioc_stream_rows_written_total counter
ioc_stream_rows_written_total{table="sensor_readings"} 1500
ioc_stream_rows_written_total{table="dead_letters"} 2
ioc_stream_batch_rows_count 7
ioc_dashboard_clients 3e+00
`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Sum("ioc_stream_rows_written_total") != 1502 || m.Sum("ioc_stream_batch_rows_count") != 7 || m.Sum("ioc_dashboard_clients") != 3 {
		t.Errorf("parsed %v", m)
	}
	if m.Sum("ioc_stream_batch_rows") != 0 {
		t.Error("a prefix of another metric's name matched")
	}
}

func TestPipelineConfigSettings(t *testing.T) {
	p := &Params{Set: []string{"ingest.linger=5ms", "dashboard.flush_interval=20ms", "stream.max_rows=100000"}}
	p.Defaults()
	cfg, err := pipelineConfig(p, "7", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	in := cfg["ingest"].(map[string]any)
	if in["linger"] != "5ms" || in["mqtt"].(map[string]any)["mount_point"] != "bench/7/" {
		t.Errorf("ingest section %v", in)
	}
	if cfg["stream"].(map[string]any)["max_rows"] != 100000 || cfg["stream"].(map[string]any)["group_id"] != "ioc-bench-7" {
		t.Errorf("stream section %v", cfg["stream"])
	}
	p.Set = []string{"ingest.mqtt.url.x=1"}
	if _, err := pipelineConfig(p, "7", "x"); err == nil {
		t.Error("setting below a value accepted")
	}
}

func TestParamsValidate(t *testing.T) {
	for name, mod := range map[string]func(*Params){
		"mode":    func(p *Params) { p.Mode = "threads" },
		"records": func(p *Params) { p.Records = 2000 },
		"factor":  func(p *Params) { p.Factor = 1 },
		"skip":    func(p *Params) { p.Skip = []string{"everything"} },
		"set":     func(p *Params) { p.Set = []string{"novalue"} },
		"settle":  func(p *Params) { p.Settle = time.Hour },
	} {
		p := &Params{}
		mod(p)
		p.Defaults()
		if p.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, smoke := range []bool{false, true} {
		p := &Params{Smoke: smoke}
		p.Defaults()
		if err := p.Validate(); err != nil {
			t.Errorf("defaults (smoke %v): %v", smoke, err)
		}
	}
}

func TestUpdateDocReplacesOnlyTheBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perf.md")
	r := &Result{Run: "1", Setup: Setup{Mode: "roles", Records: 5}}
	if err := os.WriteFile(path, []byte("# Performance\n\nintro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := r.UpdateDoc(path); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	doc := string(b)
	if !strings.HasPrefix(doc, "# Performance\n\nintro\n") || strings.Count(doc, docBegin) != 1 || strings.Count(doc, docEnd) != 1 {
		t.Errorf("document after two updates:\n%s", doc)
	}
	if err := os.WriteFile(path, []byte(doc+"\n## Notes\nkept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Run = "2"
	if err := r.UpdateDoc(path); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if !strings.Contains(string(b), "## Notes\nkept") || !strings.Contains(string(b), "run 2,") || strings.Contains(string(b), "run 1,") {
		t.Errorf("document after an update:\n%s", b)
	}
}

func TestEvaluateTargets(t *testing.T) {
	r := &Result{
		Max:  &Step{Offered: 60000, Pass: true, InsertsPerS: 1.1, MaxParts: 40},
		Hops: []HopResult{{Hop: "broker", MaxRate: 200000}, {Hop: "clickhouse", MaxRate: 100000}, {Hop: "kafka", MaxRate: 90000, Error: "x"}},
	}
	r.Ramp = []Step{*r.Max}
	r.Ramp[0].Usage.Procs = map[string]Usage{"ingest": {PeakRSSMB: 100}, "stream": {PeakRSSMB: 120}, "dashboard": {PeakRSSMB: 90}, "kafka": {PeakRSSMB: 900}}
	r.Evaluate()
	if r.SlowestHop != "clickhouse" || r.Ratio != 0.6 {
		t.Errorf("slowest %s ratio %v (a hop with an error must not count)", r.SlowestHop, r.Ratio)
	}
	got := map[string]*bool{}
	for _, tg := range r.Targets {
		got[tg.Name] = tg.Met
	}
	check := func(name string, want bool) {
		if m, ok := got[name]; !ok || m == nil || *m != want {
			t.Errorf("target %q: %v, want %v", name, m, want)
		}
	}
	check("sustained rate, zero loss", true)
	check("pipeline vs slowest hop alone", true)
	check("pipeline RSS at 50,000 readings/s", false) // 310 MB: services do not count, roles do
	check("ClickHouse inserts per table", true)
	check("ClickHouse active parts", true)
}

// The fan-out publishes as the registry's devices, each with its own
// partner, so that the wall channel carries each device.
func TestRegistryFleet(t *testing.T) {
	fleet, err := registryFleet("..")
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet) < 60 {
		t.Fatalf("%d devices, want the registry's 65", len(fleet))
	}
	partners := map[string]bool{}
	for _, f := range fleet {
		if f[0] == "" || f[1] == "" {
			t.Fatalf("empty partner or device: %v", f)
		}
		partners[f[0]] = true
	}
	if !partners["viettel"] || !partners["vnpt"] {
		t.Errorf("partners %v, want viettel and vnpt", partners)
	}
	if _, err := registryFleet("/nonexistent"); err == nil {
		t.Error("a missing registry was not an error")
	}
}

func TestHeadInt(t *testing.T) {
	f := []byte(`{"type":"delta","ch":"wall","epoch":"9f2c","seq":43,"from":41,"server_ms":1,"set":{}}`)
	if s, fr := headInt(f, `"seq":`), headInt(f, `"from":`); s != 43 || fr != 41 {
		t.Errorf("seq %d from %d, want 43 and 41", s, fr)
	}
	if v := headInt(f, `"nope":`); v != 0 {
		t.Errorf("absent key: %d", v)
	}
}
