package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// liveEngine is an engine over the test registry with some devices'
// entries replaced by live registry records (their own levels and
// maintenance windows), as the monitor gets them from the registry topic.
func liveEngine(t *testing.T, rules []Rule, recs ...registry.Record) (*Engine, *Tracker) {
	t.Helper()
	cfg := AlertsConfig{Rules: rules}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	file, err := registry.Parse(strings.NewReader(testRegistry + "water-2,viettel,water_level,Xã Chiềng Cọ,Nậm La 2,21.35,103.88,60\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := registry.NewOverlay(file)
	for _, r := range recs {
		base := o.Registry().Lookup(r.ID)
		if base == nil {
			t.Fatalf("no device %s in the test registry", r.ID)
		}
		full := registry.RecordOf(base)
		full.Alarms, full.Maintenance, full.Version, full.Actor, full.Source = r.Alarms, r.Maintenance, t0, "test", registry.SourceAdmin
		if err := full.Validate(); err != nil {
			t.Fatal(err)
		}
		o.Apply(full)
	}
	tr := NewTracker(testStatusConfig(), o.Registry(), t0)
	return NewEngine(cfg, tr.Device), tr
}

func f64(v float64) *float64 { return &v }

type lvStep struct {
	at   int
	v    float64
	want string
}

func runLevels(t *testing.T, e *Engine, device, metric string, steps []lvStep) {
	t.Helper()
	for _, s := range steps {
		got := transitions(e.Reading(num(device, metric, "m", s.v, t0+sec(s.at))))
		if got != s.want {
			t.Errorf("%s at %ds value %v: %q, want %q", device, s.at, s.v, got, s.want)
		}
	}
}

func TestPerDeviceLevels(t *testing.T) {
	// water-1 has its own alarm levels (its bank is higher); water-2 keeps
	// the rule's 1.5/2.0/2.5.
	e, _ := liveEngine(t, nil, registry.Record{ID: "water-1", Alarms: []registry.Alarm{{Rule: "water_level", Levels: []registry.Level{
		{Name: "Báo động 1", Value: 3.0, Severity: "warning"}, {Name: "Báo động 2", Value: 3.5, Severity: "alert"}}}}})
	runLevels(t, e, "water-1", "level", []lvStep{
		{0, 2.6, ""}, // above the rule's stages, below its own
		{60, 3.1, "water_level/water-1 open L0 warning [Báo động 1] @60"},
		{120, 3.6, "water_level/water-1 escalated L1 alert [Báo động 2] @120"},
	})
	runLevels(t, e, "water-2", "level", []lvStep{
		{0, 2.6, "water_level/water-2 open L0 critical [Báo động 3] @0"},
	})
	if a := e.Open(); len(a) != 2 || a[0].Threshold != 3.5 && a[1].Threshold != 3.5 || a[0].Threshold == 3.5 && a[1].Threshold == 3.5 {
		t.Errorf("open alerts %+v: water-1's threshold should be its own 3.5", a)
	}
}

func TestBelowRule(t *testing.T) {
	low := Rule{Name: "water_low", Kind: KindThreshold, Metrics: []string{"level"}, Direction: DirectionBelow, DeviceTypes: []string{"water_level"},
		Stages: []Stage{{Name: "Cạn", Below: f64(0.5), Severity: "warning"}, {Name: "Cạn kiệt", Below: f64(0.2), Severity: "alert"}}}
	e, _ := liveEngine(t, []Rule{low}, registry.Record{ID: "water-2", Alarms: []registry.Alarm{{Rule: "water_low", Levels: []registry.Level{
		{Name: "Cạn", Value: 1.0, Severity: "alert"}}}}})
	runLevels(t, e, "water-1", "level", []lvStep{
		{0, 0.8, ""},
		{60, 0.4, "water_low/water-1 open L0 warning [Cạn] @60"},
		{120, 0.1, "water_low/water-1 escalated L1 alert [Cạn kiệt] @120"},
		{180, 0.9, ""},
		{300, 0.9, "water_low/water-1 resolved L1 alert [Cạn kiệt] @300"},
	})
	// water-2's own level: below 1.0 is already low there.
	runLevels(t, e, "water-2", "level", []lvStep{{0, 0.8, "water_low/water-2 open L0 alert [Cạn] @0"}})
}

func TestRateRule(t *testing.T) {
	rise := Rule{Name: "water_rise", Kind: KindRate, Metrics: []string{"level"}, Window: 30 * time.Minute,
		Stages: []Stage{{Name: "Lên nhanh", Above: 0.5, Severity: "warning"}, {Name: "Lũ quét", Above: 1.0, Severity: "critical"}}}
	e, _ := liveEngine(t, []Rule{rise})
	runLevels(t, e, "water-1", "level", []lvStep{
		{0, 1.0, ""},   // one reading: no change to measure
		{600, 1.3, ""}, // +0.3 in 10 min
		{1200, 1.6, "water_rise/water-1 open L0 warning [Lên nhanh] @1200"},     // +0.6 in 20 min
		{1800, 2.1, "water_rise/water-1 escalated L1 critical [Lũ quét] @1800"}, // +1.1 in 30 min
		// 40 min: the window holds 600..2400 s (1.3 → 2.1): +0.8, still rising
		{2400, 2.1, ""},
		// 90 min: only 1800..5400 s in the window: flat
		{5400, 2.1, ""},
		{5580, 2.1, "water_rise/water-1 resolved L1 critical [Lũ quét] @5580"},
	})
	fall := Rule{Name: "water_fall", Kind: KindRate, Metrics: []string{"level"}, Direction: DirectionBelow, Window: time.Hour,
		Stages: []Stage{{Name: "Rút nhanh", Below: f64(-0.5), Severity: "warning"}}}
	e, _ = liveEngine(t, []Rule{fall})
	runLevels(t, e, "water-1", "level", []lvStep{
		{0, 2.0, ""},
		{1800, 1.8, ""},
		{3000, 1.4, "water_fall/water-1 open L0 warning [Rút nhanh] @3000"},
	})
	if a := e.Open(); len(a) != 1 || !strings.Contains(a[0].Message, "Rút nhanh: -0.6 m trong 1 giờ") {
		t.Errorf("rate alert message: %+v", a)
	}
}

func TestPerDeviceRuleNeedsLevels(t *testing.T) {
	rise := Rule{Name: "water_rise", Kind: KindRate, Metrics: []string{"level"}, Window: time.Hour, PerDevice: true}
	e, _ := liveEngine(t, []Rule{rise}, registry.Record{ID: "water-2", Alarms: []registry.Alarm{{Rule: "water_rise", Levels: []registry.Level{
		{Name: "Lên nhanh", Value: 0.2, Severity: "alert"}}}}})
	runLevels(t, e, "water-1", "level", []lvStep{{0, 1.0, ""}, {600, 3.0, ""}}) // no levels of its own: never alerts
	runLevels(t, e, "water-2", "level", []lvStep{{0, 1.0, ""}, {600, 1.3, "water_rise/water-2 open L0 alert [Lên nhanh] @600"}})
}

func TestMaintenanceSilencesDevice(t *testing.T) {
	win := registry.Window{FromMs: t0 + sec(100), ToMs: t0 + sec(1000), Note: "thay cảm biến"}
	e, _ := liveEngine(t, nil, registry.Record{ID: "water-1", Maintenance: []registry.Window{win}})
	runLevels(t, e, "water-1", "level", []lvStep{
		{0, 1.0, ""},
		{120, 2.6, ""}, // in maintenance: no alert
		{900, 2.6, ""},
		{1000, 2.6, "water_level/water-1 open L0 critical [Báo động 3] @1000"}, // the window ended
	})
	// An alert open before the window does not escalate during it.
	e, _ = liveEngine(t, nil, registry.Record{ID: "water-1", Maintenance: []registry.Window{{FromMs: t0 + sec(60), ToMs: t0 + sec(3600)}}})
	runLevels(t, e, "water-1", "level", []lvStep{{0, 1.6, "water_level/water-1 open L0 warning [Báo động 1] @0"}})
	if got := transitions(e.Tick(t0 + sec(1200))); got != "" {
		t.Errorf("escalated during maintenance: %s", got)
	}
	if got := transitions(e.Tick(t0 + sec(3600))); !strings.Contains(got, "escalated L1") {
		t.Errorf("after the window the alert escalates again: %q", got)
	}
	// Offline during maintenance raises no device_offline alert.
	st := event.DeviceStatus{Kind: event.SubjectDevice, DeviceID: "water-1", Partner: "viettel", Type: "water_level",
		Status: event.StatusOffline, Cause: "silent", AtMs: t0 + sec(300)}
	if got := transitions(e.Status(st)); got != "" {
		t.Errorf("offline during maintenance: %s", got)
	}
	st.AtMs = t0 + sec(4000)
	if got := transitions(e.Status(st)); !strings.Contains(got, "device_offline/water-1 open") {
		t.Errorf("offline after maintenance: %q", got)
	}
}

func TestRateAndBelowRulesValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		rule Rule
		want string
	}{
		"rate without window": {Rule{Name: "r", Kind: KindRate, Metrics: []string{"x"}, Stages: []Stage{{Name: "s", Above: 1, Severity: "warning"}}}, "window"},
		"below with above":    {Rule{Name: "r", Kind: KindThreshold, Metrics: []string{"x"}, Direction: DirectionBelow, Stages: []Stage{{Name: "s", Above: 1, Severity: "warning"}}}, "sets below"},
		"below rising":        {Rule{Name: "r", Kind: KindThreshold, Metrics: []string{"x"}, Direction: DirectionBelow, Stages: []Stage{{Name: "a", Below: f64(1), Severity: "warning"}, {Name: "b", Below: f64(2), Severity: "alert"}}}, "must fall"},
		"above with below":    {Rule{Name: "r", Kind: KindThreshold, Metrics: []string{"x"}, Stages: []Stage{{Name: "s", Below: f64(1), Severity: "warning"}}}, "direction: below"},
		"direction sideways":  {Rule{Name: "r", Kind: KindThreshold, Metrics: []string{"x"}, Direction: "sideways", Stages: []Stage{{Name: "s", Above: 1, Severity: "warning"}}}, "direction"},
		"per_device stages":   {Rule{Name: "r", Kind: KindThreshold, Metrics: []string{"x"}, PerDevice: true, Stages: []Stage{{Name: "s", Above: 1, Severity: "warning"}}}, "per_device"},
		"window on threshold": {Rule{Name: "r", Kind: KindThreshold, Metrics: []string{"x"}, Window: time.Minute, Stages: []Stage{{Name: "s", Above: 1, Severity: "warning"}}}, "window"},
	} {
		c := AlertsConfig{Rules: []Rule{tc.rule}}
		c.Defaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", name, err, tc.want)
		}
	}
}

func TestRetiredDeviceAlertsResolve(t *testing.T) {
	e, _ := liveEngine(t, nil)
	runLevels(t, e, "water-1", "level", []lvStep{{0, 2.6, "water_level/water-1 open L0 critical [Báo động 3] @0"}})
	runLevels(t, e, "water-2", "level", []lvStep{{0, 2.6, "water_level/water-2 open L0 critical [Báo động 3] @0"}})
	if got := transitions(e.Retired(map[string]bool{"water-1": true}, t0+sec(60))); got != "water_level/water-1 resolved L0 critical [Báo động 3] @60" {
		t.Errorf("retiring water-1: %q", got)
	}
	if open := e.Open(); len(open) != 1 || open[0].DeviceID != "water-2" {
		t.Errorf("open after retiring water-1: %+v", open)
	}
}
