package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

func testEngine(t *testing.T, rules ...Rule) (*Engine, *Tracker) {
	t.Helper()
	cfg := AlertsConfig{Rules: rules}
	if rules == nil {
		cfg.Rules = nil
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(testStatusConfig(), testReg(t), t0)
	return NewEngine(cfg, tr.Device), tr
}

func num(device, metric, unit string, v float64, at int64) *event.Reading {
	r := &event.Reading{Partner: "viettel", DeviceID: device, Metric: metric, Kind: event.KindNumber, Value: v, Unit: unit,
		ObservedMs: at, ReceivedMs: at}
	r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, at)
	return r
}

func aqi(device string, v float64, at int64) *event.Reading {
	r := num(device, event.MetricVNAQI, "VN_AQI", v, at)
	r.Derived = true
	return r
}

// transitions renders alert events as "rule/subject state L<level> <severity> [stage] @s".
func transitions(evs []event.AlertEvent) string {
	var parts []string
	for _, e := range evs {
		s := fmt.Sprintf("%s/%s %s L%d %s", e.Rule, e.Subject, e.State, e.Level, e.Severity)
		if e.Stage != "" {
			s += " [" + e.Stage + "]"
		}
		parts = append(parts, fmt.Sprintf("%s @%d", s, (e.AtMs-t0)/1000))
	}
	return strings.Join(parts, "; ")
}

func TestWaterLevelStages(t *testing.T) {
	e, _ := testEngine(t, nil...)
	for _, s := range []struct {
		at    int
		level float64
		want  string
	}{
		{0, 1.2, ""},
		{60, 1.6, "water_level/water-1 open L0 warning [Báo động 1] @60"},
		{120, 1.7, ""},
		{180, 2.1, "water_level/water-1 escalated L1 alert [Báo động 2] @180"},
		{240, 1.8, ""}, // lower stage: the alert stays as it is
		{300, 2.6, "water_level/water-1 escalated L2 critical [Báo động 3] @300"},
		{360, 1.4, ""},  // below every stage: resolves once it stayed there 2 minutes
		{420, 1.45, ""}, //
		{480, 1.3, "water_level/water-1 resolved L2 critical [Báo động 3] @480"},
		{540, 1.3, ""},
	} {
		got := transitions(e.Reading(num("water-1", "level", "m", s.level, t0+sec(s.at))))
		if got != s.want {
			t.Errorf("at %ds level %v: %q, want %q", s.at, s.level, got, s.want)
		}
	}
	// the rule is for water-level stations only, and readings of other
	// metrics do not count
	if got := e.Reading(num("aq-1", "level", "m", 3, t0+sec(600))); len(got) != 0 {
		t.Errorf("level of an air-quality station raised %s", transitions(got))
	}
}

func TestWobblingValueDoesNotFlap(t *testing.T) {
	e, _ := testEngine(t, nil...)
	var all []event.AlertEvent
	for i := 0; i < 60; i++ {
		v := 1.45 + 0.1*float64(i%2) // 1.45, 1.55, 1.45, …
		all = append(all, e.Reading(num("water-1", "level", "m", v, t0+sec(5*i)))...)
	}
	if got := transitions(all); got != "water_level/water-1 open L0 warning [Báo động 1] @5" {
		t.Errorf("wobbling around a stage: %q", got)
	}
}

// VN_AQI Xấu (unhealthy) or worse for 10 minutes.
func TestAQIRuleNeedsTenMinutes(t *testing.T) {
	e, _ := testEngine(t, nil...)
	var all []event.AlertEvent
	feed := func(from, to int, v float64) {
		for at := from; at <= to; at += 60 {
			all = append(all, e.Reading(aqi("aq-1", v, t0+sec(at)))...)
		}
	}
	feed(0, 300, 160)     // 5 minutes unhealthy …
	feed(360, 360, 120)   // … interrupted
	feed(420, 1020, 170)  // 10 minutes from 420: opens at 1020
	feed(1080, 1080, 230) // very bad: escalates, critical
	if got := transitions(all); got != "aqi_unhealthy/aq-1 open L0 alert [Xấu] @1020; aqi_unhealthy/aq-1 escalated L1 critical [Rất xấu] @1080" {
		t.Errorf("VN_AQI alert: %q", got)
	}
	// measured readings named vn_aqi (not derived) are not the pipeline's index
	if got := e.Reading(num("aq-1", event.MetricVNAQI, "", 400, t0+sec(1100))); len(got) != 0 {
		t.Errorf("a sensor's own vn_aqi raised %s", transitions(got))
	}
	if a := e.Open(); len(a) != 1 || !strings.Contains(a[0].Message, "VN_AQI 230 (Rất xấu)") || !strings.Contains(a[0].Message, "AQ 1") {
		t.Errorf("open alerts: %+v", a)
	}
}

func TestAcknowledgeAndEscalation(t *testing.T) {
	e, _ := testEngine(t, nil...)
	open := e.Reading(num("water-1", "level", "m", 1.6, t0))
	if len(open) != 1 {
		t.Fatalf("no alert opened: %v", open)
	}
	id := open[0].AlertID
	// not acknowledged for 10 minutes: escalates, then again, up to max_level 2
	var all []event.AlertEvent
	for at := 1; at <= 3600; at += 30 {
		all = append(all, e.Tick(t0+sec(at))...)
	}
	if got := transitions(all); got != "water_level/water-1 escalated L1 alert [Báo động 1] @600; water_level/water-1 escalated L2 critical [Báo động 1] @1200" {
		t.Errorf("escalation: %q", got)
	}
	// acknowledge with a name and a note
	if _, err := e.Command(event.AlertCommand{ID: "c1", AlertID: id, Action: "ack", Operator: " ", Note: "x"}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("ack without operator: %v", err)
	}
	if _, err := e.Command(event.AlertCommand{ID: "c0", AlertID: "nope", Action: "ack", Operator: "Lò Văn A"}); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("ack of an unknown alert: %v", err)
	}
	evs, err := e.Command(event.AlertCommand{ID: "c2", AlertID: id, Action: "ack", Operator: "Lò Văn A", Note: "Đã báo đội cứu hộ", AtMs: t0 + sec(3700)})
	if err != nil || len(evs) != 1 || evs[0].State != event.AlertAcknowledged || evs[0].Operator != "Lò Văn A" ||
		evs[0].Note != "Đã báo đội cứu hộ" || !evs[0].Acked || evs[0].Seq != 4 {
		t.Fatalf("ack: %+v %v", evs, err)
	}
	if evs, err := e.Command(event.AlertCommand{ID: "c3", AlertID: id, Action: "ack", Operator: "B"}); err != nil || len(evs) != 0 {
		t.Errorf("second ack: %v %v, want nothing", evs, err)
	}
	// a stage rise after the acknowledgement needs a new one
	evs = e.Reading(num("water-1", "level", "m", 2.2, t0+sec(3800)))
	if transitions(evs) != "water_level/water-1 escalated L3 critical [Báo động 2] @3800" || evs[0].Acked {
		t.Errorf("stage rise after ack: %s acked=%v", transitions(evs), evs[0].Acked)
	}
	// resolve: below the stages for two minutes
	e.Reading(num("water-1", "level", "m", 1.0, t0+sec(3900)))
	evs = e.Reading(num("water-1", "level", "m", 1.0, t0+sec(4020)))
	if len(evs) != 1 || evs[0].State != event.AlertResolved || evs[0].AlertID != id {
		t.Errorf("resolve: %s", transitions(evs))
	}
	if _, err := e.Command(event.AlertCommand{ID: "c4", AlertID: id, Action: "ack", Operator: "C"}); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("ack after resolve: %v", err)
	}
}

func TestOfflineAndFeedAlerts(t *testing.T) {
	e, _ := testEngine(t, nil...)
	st := func(kind, device, partner, status, cause string, at int) event.DeviceStatus {
		return event.DeviceStatus{Kind: kind, DeviceID: device, Partner: partner, Status: status, Cause: cause, AtMs: t0 + sec(at), Type: "air_quality"}
	}
	var all []event.AlertEvent
	for _, s := range []event.DeviceStatus{
		st(event.SubjectFeed, "", "viettel", event.StatusLive, "start", 0), // one feed live: no pipeline stall
		st(event.SubjectDevice, "aq-1", "viettel", event.StatusStale, "late", 10),
		st(event.SubjectDevice, "aq-1", "viettel", event.StatusOffline, "silent", 20),
		st(event.SubjectDevice, "aq-1", "viettel", event.StatusOnline, "reading", 30),
		st(event.SubjectFeed, "", "vnpt", event.StatusSilent, "silent", 40),
		st(event.SubjectDevice, "rain-1", "vnpt", event.StatusOffline, "feed_silent", 50), // the feed's alert covers it
		st(event.SubjectFeed, "", "vnpt", event.StatusLive, "reading", 60),
	} {
		all = append(all, e.Status(s)...)
	}
	want := "device_offline/aq-1 open L0 warning @20; device_offline/aq-1 resolved L0 warning @30; " +
		"feed_silent/feed:vnpt open L0 critical @40; feed_silent/feed:vnpt resolved L0 critical @60"
	if got := transitions(all); got != want {
		t.Errorf("status alerts:\n%s\nwant\n%s", got, want)
	}
}

// After a restart the open alerts come back from ClickHouse: the same
// condition does not open a second alert, and the alert resolves.
func TestRestoredAlert(t *testing.T) {
	e, _ := testEngine(t, nil...)
	id := event.AlertID("water_level", "water-1", t0-sec(600))
	e.Restore(event.AlertEvent{AlertID: id, Rule: "water_level", Kind: KindThreshold, Subject: "water-1", DeviceID: "water-1",
		State: event.AlertOpen, Seq: 1, Severity: event.SeverityWarning, Stage: "Báo động 1", OpenedMs: t0 - sec(600), AtMs: t0 - sec(600)})
	if got := e.Reading(num("water-1", "level", "m", 1.7, t0)); len(got) != 0 {
		t.Errorf("restored alert reopened: %s", transitions(got))
	}
	e.Reading(num("water-1", "level", "m", 1.0, t0+sec(10)))
	got := e.Reading(num("water-1", "level", "m", 1.0, t0+sec(130)))
	if len(got) != 1 || got[0].AlertID != id || got[0].State != event.AlertResolved || got[0].Seq != 2 {
		t.Errorf("restored alert: %+v", got)
	}
}

func TestRulesValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		rules []Rule
		want  string
	}{
		"duplicate": {[]Rule{{Name: "a", Kind: KindFeedSilent}, {Name: "a", Kind: KindFeedSilent}}, "two rules"},
		"kind":      {[]Rule{{Name: "a", Kind: "vibes"}}, "kind"},
		"category":  {[]Rule{{Name: "a", Kind: KindAQI, MinCategory: "awful"}}, "min_category"},
		"no stages": {[]Rule{{Name: "a", Kind: KindThreshold, Metrics: []string{"x"}}}, "stage"},
		"falling":   {[]Rule{{Name: "a", Kind: KindThreshold, Metrics: []string{"x"}, Stages: []Stage{{Name: "s1", Above: 2, Severity: "warning"}, {Name: "s2", Above: 1, Severity: "alert"}}}}, "must rise"},
		"severity":  {[]Rule{{Name: "a", Kind: KindFeedSilent, Severity: "panic"}}, "severity"},
	} {
		c := AlertsConfig{Rules: tc.rules}
		c.Defaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", name, err, tc.want)
		}
	}
	c := AlertsConfig{}
	c.Defaults()
	if err := c.Validate(); err != nil || len(c.Rules) != 8 {
		t.Errorf("default rules: %v (%d rules)", err, len(c.Rules))
	}
	_ = time.Second
}

// When every partner feed is silent at once, one "pipeline stalled" alert
// opens (besides each feed's), whatever the stalled hop; it resolves as
// soon as any feed is live again, and after a restart the restored feed
// statuses count.
func TestPipelineStalledAlert(t *testing.T) {
	e, _ := testEngine(t, nil...)
	feed := func(partner, status string, at int) event.DeviceStatus {
		return event.DeviceStatus{Kind: event.SubjectFeed, Partner: partner, Status: status, AtMs: t0 + sec(at), LastSeenMs: t0 + sec(at) - 1000}
	}
	var all []event.AlertEvent
	for _, s := range []event.DeviceStatus{
		feed("viettel", event.StatusLive, 0), feed("vnpt", event.StatusLive, 0),
		feed("viettel", event.StatusSilent, 10), // one partner down: not the pipeline
		feed("vnpt", event.StatusSilent, 20),    // both: stalled
		feed("viettel", event.StatusSilent, 25), // no second alert
		feed("vnpt", event.StatusLive, 30),
	} {
		all = append(all, e.Status(s)...)
	}
	want := "feed_silent/feed:viettel open L0 critical @10; feed_silent/feed:vnpt open L0 critical @20; pipeline_stalled/pipeline open L0 critical @20; " +
		"feed_silent/feed:vnpt resolved L0 critical @30; pipeline_stalled/pipeline resolved L0 critical @30"
	if got := transitions(all); got != want {
		t.Errorf("alerts:\n%s\nwant\n%s", got, want)
	}
	for _, a := range all {
		if a.Rule == "pipeline_stalled" && a.State == event.AlertOpen && !strings.Contains(a.Message, "Đường truyền dữ liệu bị nghẽn") {
			t.Errorf("message %q", a.Message)
		}
	}
	// After a restart: viettel restored silent, vnpt goes silent.
	e2, _ := testEngine(t, nil...)
	e2.RestoreFeed("viettel", event.StatusSilent)
	e2.RestoreFeed("vnpt", event.StatusLive)
	if got := transitions(e2.Status(feed("vnpt", event.StatusSilent, 40))); !strings.Contains(got, "pipeline_stalled/pipeline open") {
		t.Errorf("after a restart: %s", got)
	}
}
