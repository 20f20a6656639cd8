package notify

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

func routerConfig(routes ...RouteConfig) *Config {
	c := &Config{Channels: map[string]ChannelConfig{
		"mail": {Kind: KindEmail, From: "ioc@sonla.gov.vn", To: []string{"a@sonla.gov.vn"}, SMTP: SMTPConfig{Addr: "127.0.0.1:25"}},
		"hook": {Kind: KindWebhook, URL: "http://127.0.0.1:1/h", SecretEnv: "X"},
	}, Routes: routes}
	c.Defaults()
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

// summary renders jobs as "channel notice#repeat" (deferred ones with a D).
func summary(jobs []job) string {
	var out []string
	for _, j := range jobs {
		s := fmt.Sprintf("%s %s#%d", j.channel, j.notice.Notice, j.notice.Repeat)
		if !j.deferred.IsZero() {
			s += " D"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func transition(ev event.AlertEvent, state string, seq int, at time.Time) event.AlertEvent {
	ev.State, ev.Seq, ev.AtMs = state, seq, at.UnixMilli()
	ev.ID = event.AlertTransitionID(ev.AlertID, state, ev.Level, fmt.Sprint(seq))
	ev.Acked = state == event.AlertAcknowledged
	return ev
}

// Open sends, unacknowledged alerts repeat every repeat_every, the
// acknowledgement stops the repeats, the resolution sends a resolved notice;
// routing by rule, ward, partner and severity picks the channels.
func TestRouterLifecycle(t *testing.T) {
	cfg := routerConfig(
		RouteConfig{Rules: []string{"water_level"}, Wards: []string{"Xã Chiềng Cọ"}, Channels: []string{"mail", "hook"}, RepeatEvery: 5 * time.Minute},
		RouteConfig{Partners: []string{"vnpt"}, Channels: []string{"hook"}},
		RouteConfig{MinSeverity: event.SeverityCritical, Channels: []string{"mail"}},
	)
	r := newRouter(cfg, newLedger())
	t0 := time.Date(2026, 7, 14, 10, 0, 0, 0, event.Location)
	base := testAlert()
	step := func(what string, jobs []job, want string) {
		t.Helper()
		if got := summary(jobs); got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	open := transition(base, event.AlertOpen, 1, t0)
	step("open", r.event(open, t0), "hook open#0, mail open#0")
	step("the same transition again (a replay)", r.event(open, t0), "")
	step("before repeat_every", r.tick(t0.Add(4*time.Minute)), "")
	step("first repeat", r.tick(t0.Add(5*time.Minute)), "hook repeat#1, mail repeat#1")
	step("not yet the next", r.tick(t0.Add(9*time.Minute)), "")
	step("second repeat", r.tick(t0.Add(10*time.Minute)), "hook repeat#2, mail repeat#2")
	ack := transition(base, event.AlertAcknowledged, 2, t0.Add(11*time.Minute))
	step("acknowledged (no ack notice by default)", r.event(ack, t0.Add(11*time.Minute)), "")
	if _, stopped := r.stopped.Load(base.AlertID); !stopped {
		t.Error("the workers are not told the alert is acknowledged")
	}
	step("no repeats once acknowledged", r.tick(t0.Add(30*time.Minute)), "")
	resolved := transition(base, event.AlertResolved, 3, t0.Add(40*time.Minute))
	step("resolved", r.event(resolved, t0.Add(40*time.Minute)), "hook resolved#0, mail resolved#0")
	step("nothing after", r.tick(t0.Add(2*time.Hour)), "")
	step("an old transition read again after the resolution", r.event(transition(base, event.AlertEscalated, 2, t0.Add(3*time.Hour)), t0.Add(3*time.Hour)), "")
	step("does not bring it back", r.tick(t0.Add(4*time.Hour)), "")

	// Another ward, a VNPT device: only the partner route.
	other := base
	other.AlertID, other.Ward, other.Partner = "al-2", "Phường Tô Hiệu", "vnpt"
	step("partner route", r.event(transition(other, event.AlertOpen, 1, t0), t0), "hook open#0")
	// Escalated to critical: the severity route adds the mail channel.
	esc := other
	esc.Severity, esc.Level = event.SeverityCritical, 1
	step("escalation to critical", r.event(transition(esc, event.AlertEscalated, 2, t0.Add(time.Minute)), t0.Add(time.Minute)), "hook escalated#0, mail escalated#0")
	// A warning in an unrouted ward: nothing.
	quiet := base
	quiet.AlertID, quiet.Ward, quiet.Severity = "al-3", "Xã Hua La", event.SeverityWarning
	step("no route", r.event(transition(quiet, event.AlertOpen, 1, t0), t0), "")
}

// A restart: what the ledger (notification_log) says was sent is not sent
// again, repeats carry on from the last one sent, and an old transition
// read from the topic is not sent as itself.
func TestRouterAfterRestart(t *testing.T) {
	cfg := routerConfig(RouteConfig{Channels: []string{"hook"}, RepeatEvery: time.Minute})
	t0 := time.Date(2026, 7, 14, 10, 0, 0, 0, event.Location)
	ev := transition(testAlert(), event.AlertOpen, 1, t0)
	led := newLedger()
	first := newRouter(cfg, led)
	if got := summary(first.event(ev, t0)); got != "hook open#0" {
		t.Fatalf("first run: %q", got)
	}
	if got := summary(first.tick(t0.Add(time.Minute))); got != "hook repeat#1" {
		t.Fatalf("first run repeat: %q", got)
	}
	// The second process: same ledger (as read from ClickHouse), the
	// topic replayed.
	second := newRouter(cfg, led)
	if got := summary(second.event(ev, t0.Add(90*time.Second))); got != "" {
		t.Errorf("replayed open after restart: %q, want nothing", got)
	}
	if got := summary(second.tick(t0.Add(90 * time.Second))); got != "" {
		t.Errorf("repeat before its time after restart: %q", got)
	}
	if got := summary(second.tick(t0.Add(2 * time.Minute))); got != "hook repeat#2" {
		t.Errorf("after restart: %q, want the next repeat", got)
	}
	// A transition older than max_age seen for the first time: followed,
	// not sent; its repeats go out.
	third := newRouter(cfg, newLedger())
	old := ev
	old.AlertID = "al-old"
	if got := summary(third.event(old, t0.Add(2*time.Hour))); got != "" {
		t.Errorf("old transition sent: %q", got)
	}
	if got := summary(third.tick(t0.Add(2 * time.Hour))); got != "hook repeat#1" {
		t.Errorf("old unacknowledged alert: %q, want a repeat", got)
	}
}

// Quiet hours (Asia/Ho_Chi_Minh) hold back what is below their severity
// until they end; critical goes out at once; repeats pause.
func TestQuietHours(t *testing.T) {
	cfg := routerConfig(RouteConfig{Channels: []string{"mail"}, RepeatEvery: 30 * time.Minute,
		Quiet: QuietHours{From: "22:00", To: "06:00"}})
	r := newRouter(cfg, newLedger())
	night := time.Date(2026, 7, 14, 23, 30, 0, 0, event.Location)
	warn := testAlert()
	warn.Severity = event.SeverityWarning
	if got := summary(r.event(transition(warn, event.AlertOpen, 1, night), night)); got != "mail open#0 D" {
		t.Errorf("warning at night: %q, want deferred", got)
	}
	if got := summary(r.tick(night.Add(2 * time.Hour))); got != "" {
		t.Errorf("still night: %q", got)
	}
	crit := testAlert()
	crit.AlertID, crit.Severity = "al-crit", event.SeverityCritical
	if got := summary(r.event(transition(crit, event.AlertOpen, 1, night), night)); got != "mail open#0" {
		t.Errorf("critical at night: %q, want sent", got)
	}
	morning := time.Date(2026, 7, 15, 6, 0, 0, 0, event.Location)
	got := summary(r.tick(morning))
	if !strings.Contains(got, "mail open#0") || strings.Contains(got, " D") {
		t.Errorf("at 06:00: %q, want the held open sent", got)
	}
	for _, c := range []struct {
		at   string
		hold bool
	}{{"21:59", false}, {"22:00", true}, {"03:00", true}, {"05:59", true}, {"06:00", false}, {"12:00", false}} {
		tm, _ := time.ParseInLocation("2006-01-02 15:04", "2026-07-14 "+c.at, event.Location)
		if hold, _ := cfg.Routes[0].Quiet.holds(tm, event.SeverityAlert); hold != c.hold {
			t.Errorf("%s: holds %v, want %v", c.at, hold, c.hold)
		}
	}
	day := QuietHours{From: "12:00", To: "13:30", MinSeverity: event.SeverityAlert}
	if err := day.parse(); err != nil {
		t.Fatal(err)
	}
	tm := time.Date(2026, 7, 14, 12, 10, 0, 0, event.Location)
	if hold, until := day.holds(tm, event.SeverityWarning); !hold || until.Format("15:04") != "13:30" {
		t.Errorf("daytime quiet hours: %v until %s", hold, until)
	}
	if hold, _ := day.holds(tm, event.SeverityAlert); hold {
		t.Error("alert held though it is min_severity")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty is valid", Config{}, ""},
		{"bad base url", Config{BaseURL: "ioc.sonla"}, "base_url"},
		{"unknown kind", Config{Channels: map[string]ChannelConfig{"x": {Kind: "sms"}}}, "kind"},
		{"webhook without secret", Config{Channels: map[string]ChannelConfig{"x": {Kind: KindWebhook, URL: "https://h.example/x"}}}, "secret_file"},
		{"email without to", Config{Channels: map[string]ChannelConfig{"x": {Kind: KindEmail, From: "a@b.vn", SMTP: SMTPConfig{Addr: "m:587"}}}}, "to needs"},
		{"auth in clear", Config{Channels: map[string]ChannelConfig{"x": {Kind: KindEmail, From: "a@b.vn", To: []string{"c@d.vn"},
			SMTP: SMTPConfig{Addr: "m:587", Username: "u", PasswordFile: "/p", StartTLS: new(bool)}}}}, "in clear"},
		{"telegram without chat", Config{Channels: map[string]ChannelConfig{"x": {Kind: KindTelegram, TokenEnv: "T"}}}, "chat_id"},
		{"route to unknown channel", Config{Routes: []RouteConfig{{Channels: []string{"nope"}}}}, "not in notify.channels"},
		{"bad quiet hours", Config{Channels: map[string]ChannelConfig{"x": {Kind: KindZalo, TokenEnv: "T", UserID: "1"}},
			Routes: []RouteConfig{{Channels: []string{"x"}, Quiet: QuietHours{From: "22h", To: "06:00"}}}}, "HH:MM"},
		{"bad template", Config{Channels: map[string]ChannelConfig{"x": {Kind: KindWebhook, URL: "https://h.example", SecretEnv: "S", Template: "{{.Nope"}}}, "template"},
	} {
		c.cfg.Defaults()
		err := c.cfg.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
