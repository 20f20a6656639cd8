package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The administrative rules run on a fake clock: every evaluation is given
// the time. base is a Monday 08:00 in Son La.
var base = time.Date(2026, 3, 2, 8, 0, 0, 0, event.Location)

func at(d time.Duration) int64 { return base.Add(d).UnixMilli() }

func rfc(ms int64) string { return time.UnixMilli(ms).In(event.Location).Format(time.RFC3339) }

func dossierEv(t *testing.T, id, state string, atMs, received, due int64) event.AdminEvent {
	t.Helper()
	d := &event.Dossier{DossierID: id, ProcedureCode: "1.001022.000.00.00.H50", Unit: "ubnd-tp", Channel: "online", State: state,
		At: rfc(atMs), ReceivedAt: rfc(received), DueAt: rfc(due)}
	if err := event.PrepareAdmin(d, atMs, event.DefaultAdminLimits); err != nil {
		t.Fatal(err)
	}
	return d
}

func taskEv(t *testing.T, id, state string, atMs int64, due string) event.AdminEvent {
	t.Helper()
	k := &event.Task{TaskID: id, Plan: "32/QĐ-UBND", PlanYear: 2026, MainTask: 3, Title: "Rà soát TTHC", OwnerUnit: "phong-noi-vu",
		DueDate: due, State: state, At: rfc(atMs)}
	if err := event.PrepareAdmin(k, atMs, event.DefaultAdminLimits); err != nil {
		t.Fatal(err)
	}
	return k
}

// adminTransitions renders alert events as "rule state L<level> <severity> [stage] @<hours from base>".
func adminTransitions(evs []event.AlertEvent) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%s/%s %s L%d %s [%s] @%gh", e.Rule, e.Subject, e.State, e.Level, e.Severity, e.Stage,
			float64(e.AtMs-base.UnixMilli())/3.6e6))
	}
	return strings.Join(parts, "; ")
}

// step is one thing happening at a time: an event, an operator's
// acknowledgement of the alert last opened, or a tick of the clock.
type step struct {
	now  time.Duration
	ev   event.AdminEvent // nil: a tick; ackLast: the acknowledgement
	want string
}

// ackLast in a step stands for an operator acknowledging the alert that
// opened last.
var ackLast event.AdminEvent = &event.Unit{}

func runSteps(t *testing.T, e *Engine, steps []step) {
	t.Helper()
	var last string
	for i, s := range steps {
		var got []event.AlertEvent
		switch {
		case s.ev == ackLast:
			var err error
			if got, err = e.Command(event.AlertCommand{ID: fmt.Sprint("c", i), AlertID: last, Action: "ack", Operator: "Lò Văn A", AtMs: at(s.now)}); err != nil {
				t.Fatalf("step %d: ack: %v", i, err)
			}
		case s.ev != nil:
			got = e.Admin(s.ev, at(s.now))
		default:
			got = e.Tick(at(s.now))
		}
		if g := adminTransitions(got); g != s.want {
			t.Errorf("step %d at +%s: %q, want %q", i, s.now, g, s.want)
		}
		for _, a := range got {
			if a.State == event.AlertOpen {
				last = a.AlertID
			}
		}
	}
}

// A dossier due in two days: the alert opens 24 h before its due time,
// turns late (escalated, severity alert) once the due time passes, and
// resolves when the dossier is resolved.
func TestDossierDueLifecycle(t *testing.T) {
	e, _ := testEngine(t, nil...)
	rcv, due := at(0), at(48*time.Hour)
	runSteps(t, e, []step{
		{0, dossierEv(t, "d-1", "received", rcv, rcv, due), ""},
		{time.Hour, dossierEv(t, "d-1", "in_progress", at(time.Hour), rcv, due), ""},
		{24*time.Hour - time.Second, nil, ""},
		{24 * time.Hour, nil, "dossier_due/dossier:d-1 open L0 warning [Sắp đến hạn] @24h"},
		{24*time.Hour + 6*time.Minute, ackLast, "dossier_due/dossier:d-1 acknowledged L0 warning [Sắp đến hạn] @24.1h"},
		{30 * time.Hour, nil, ""}, // acknowledged: no escalation by time
		{48 * time.Hour, nil, ""}, // due at 08:00: on time until then
		{48*time.Hour + time.Second, nil, "dossier_due/dossier:d-1 escalated L1 alert [Trễ hạn] @48h"},
		{50 * time.Hour, dossierEv(t, "d-1", "resolved", at(50*time.Hour), rcv, due), "dossier_due/dossier:d-1 resolved L1 alert [Trễ hạn] @50h"},
		{51 * time.Hour, nil, ""},
	})
	if n := len(e.Open()); n != 0 {
		t.Errorf("%d alerts still open", n)
	}
}

func TestDossierDueMessagesAndIDs(t *testing.T) {
	e, _ := testEngine(t, nil...)
	rcv, due := at(0), at(3*time.Hour) // received 08:00, due 11:00 the same day
	evs := e.Admin(dossierEv(t, "d-2", "received", rcv, rcv, due), rcv)
	if len(evs) != 1 {
		t.Fatalf("a dossier due within the lead opens at once: %s", adminTransitions(evs))
	}
	a := evs[0]
	// opened at max(due − lead, received): a data time, so a restart or a
	// second instance derives the same id
	if a.OpenedMs != rcv || a.AlertID != event.AlertID("dossier_due", "dossier:d-2", rcv) || a.Kind != KindDossierDue || a.DeviceID != "" {
		t.Errorf("alert %+v", a)
	}
	if want := "Hồ sơ sắp đến hạn: d-2 (thủ tục 1.001022.000.00.00.H50) — ubnd-tp, hẹn trả 11:00 02/03/2026"; a.Message != want {
		t.Errorf("message %q, want %q", a.Message, want)
	}
	// the wall's operator acknowledges it; the late stage needs a new one
	ack, err := e.Command(event.AlertCommand{ID: "c1", AlertID: a.AlertID, Action: "ack", Operator: "Cầm Thị B", Note: "Đã nhắc phòng TN-MT"})
	if err != nil || len(ack) != 1 || !ack[0].Acked {
		t.Fatalf("ack: %v %v", ack, err)
	}
	late := e.Tick(at(3*time.Hour + time.Millisecond))
	if len(late) != 1 || late[0].Acked || late[0].Stage != StageLate || !strings.HasPrefix(late[0].Message, "Hồ sơ trễ hạn: d-2") {
		t.Errorf("late: %+v", late)
	}
	// a withdrawn dossier resolves its alert with a note
	res := e.Admin(dossierEv(t, "d-2", "withdrawn", at(4*time.Hour), rcv, due), at(4*time.Hour))
	if len(res) != 1 || res[0].State != event.AlertResolved || !strings.Contains(res[0].Note, "Hồ sơ đã rút lúc 12:00 02/03/2026") {
		t.Errorf("resolve: %+v", res)
	}
}

// Events in any order, duplicates, a new due time, history.
func TestDossierDueOrderAndDueChanges(t *testing.T) {
	e, _ := testEngine(t, nil...)
	rcv := at(0)
	runSteps(t, e, []step{
		// resolved arrives before its received: never an alert
		{time.Hour, dossierEv(t, "d-3", "resolved", at(time.Hour), rcv, at(2*time.Hour)), ""},
		{time.Hour, dossierEv(t, "d-3", "received", rcv, rcv, at(2*time.Hour)), ""},
		{3 * time.Hour, nil, ""},
		// due soon, then additional documents requested with a new due
		// time four days later: resolves; it opens again 24 h before that
		{time.Hour, dossierEv(t, "d-4", "received", rcv, rcv, at(5*time.Hour)), "dossier_due/dossier:d-4 open L0 warning [Sắp đến hạn] @0h"},
		{time.Hour, dossierEv(t, "d-4", "received", rcv, rcv, at(5*time.Hour)), ""}, // a duplicate
		{2 * time.Hour, dossierEv(t, "d-4", "supplement_requested", at(2*time.Hour), rcv, at(101*time.Hour)),
			"dossier_due/dossier:d-4 resolved L0 warning [Sắp đến hạn] @2h"},
		{76 * time.Hour, nil, ""},
		{77 * time.Hour, nil, "dossier_due/dossier:d-4 open L0 warning [Sắp đến hạn] @77h"},
		// an older event replayed after the newer one changes nothing
		{78 * time.Hour, dossierEv(t, "d-4", "in_progress", at(time.Hour), rcv, at(5*time.Hour)), ""},
		// a dossier first seen past due opens late; one 40 days past due is history
		{78 * time.Hour, dossierEv(t, "d-5", "in_progress", at(78*time.Hour), rcv, at(10*time.Hour)), "dossier_due/dossier:d-5 open L0 alert [Trễ hạn] @0h"},
		{78 * time.Hour, dossierEv(t, "d-6", "in_progress", at(78*time.Hour), at(-1000*time.Hour), at(-900*time.Hour)), ""},
	})
	ids := map[string]bool{}
	for _, a := range e.Open() {
		ids[a.AlertID] = true
	}
	if len(ids) != 2 || !ids[event.AlertID("dossier_due", "dossier:d-4", at(77*time.Hour))] {
		t.Errorf("open alerts: %v", e.Open())
	}
}

// After a restart the open alert comes back from ClickHouse and the
// dossier's state from its events: nothing opens twice, and the alert
// goes on from its last transition.
func TestDossierDueAfterRestart(t *testing.T) {
	e, _ := testEngine(t, nil...)
	rcv, due := at(0), at(30*time.Hour)
	evs := e.Tick(at(7 * time.Hour))
	evs = append(evs, e.Admin(dossierEv(t, "d-7", "received", rcv, rcv, due), at(7*time.Hour))...)
	evs = append(evs, e.Tick(at(8*time.Hour))...) // not acknowledged for an hour (escalate_after of the admin rules): escalated
	if got := adminTransitions(evs); got != "dossier_due/dossier:d-7 open L0 warning [Sắp đến hạn] @6h; dossier_due/dossier:d-7 escalated L1 alert [Sắp đến hạn] @8h" {
		t.Fatalf("before restart: %s", got)
	}
	last := evs[len(evs)-1]

	r, _ := testEngine(t, nil...)
	r.Restore(last)
	r.mergeDossier("d-7", "1.001022.000.00.00.H50", "ubnd-tp", version{rcv, 1, rcv}, rcv, due, 0, "")
	r.Admin(dossierEv(t, "d-7", "received", rcv, rcv, due), at(9*time.Hour)) // the Kafka replay
	if got := r.Tick(at(8*time.Hour + 30*time.Minute)); len(got) != 0 {
		t.Errorf("after restart: %s", adminTransitions(got))
	}
	got := r.Tick(at(30*time.Hour + time.Second))
	if len(got) != 1 || got[0].AlertID != last.AlertID || got[0].Seq != last.Seq+1 || got[0].Stage != StageLate || got[0].Level != 2 {
		t.Errorf("late after restart: %+v", got)
	}
}

// A task not done after its due date (the whole day, city time) opens an
// alert at the midnight that ends it; done resolves it.
func TestTaskOverdueLifecycle(t *testing.T) {
	e, _ := testEngine(t, nil...)
	midnight := time.Date(2026, 3, 4, 0, 0, 0, 0, event.Location).Sub(base) // end of 3 March
	runSteps(t, e, []step{
		{0, taskEv(t, "kh-1", "assigned", at(0), "2026-03-03"), ""},
		{time.Hour, taskEv(t, "kh-1", "in_progress", at(time.Hour), "2026-03-03"), ""},
		{midnight - time.Millisecond, nil, ""},
		{midnight, nil, "task_overdue/task:kh-1 open L0 warning [Quá hạn] @40h"},
		{midnight + time.Hour + time.Millisecond, nil, "task_overdue/task:kh-1 escalated L1 alert [Quá hạn] @41h"}, // escalate_after 1h
		{midnight + 2*time.Hour, taskEv(t, "kh-1", "done", at(midnight+2*time.Hour), "2026-03-03"), "task_overdue/task:kh-1 resolved L1 alert [Quá hạn] @42h"},
		// done, then reopened (its newest state is in progress again): overdue again, a new alert
		{midnight + 3*time.Hour, taskEv(t, "kh-1", "in_progress", at(midnight+3*time.Hour), "2026-03-03"), "task_overdue/task:kh-1 open L0 warning [Quá hạn] @40h"},
		// its due date moved: resolves
		{midnight + 4*time.Hour, taskEv(t, "kh-1", "in_progress", at(midnight+4*time.Hour), "2026-03-31"), "task_overdue/task:kh-1 resolved L0 warning [Quá hạn] @44h"},
		// a task due 60 days ago is history
		{midnight, taskEv(t, "kh-2", "in_progress", at(0), "2026-01-01"), ""},
		{midnight + 5*time.Hour, nil, ""},
	})
	open := e.Admin(taskEv(t, "kh-3", "assigned", at(0), "2026-03-01"), at(time.Hour))
	if len(open) != 1 || open[0].Message != "Nhiệm vụ CCHC quá hạn: Rà soát TTHC — phong-noi-vu, hạn 01/03/2026 (32/QĐ-UBND)" ||
		open[0].OpenedMs != time.Date(2026, 3, 2, 0, 0, 0, 0, event.Location).UnixMilli() {
		t.Errorf("task alert: %+v", open)
	}
}

// Dossiers and tasks beyond the horizon without an open alert are
// forgotten; the maps are bounded.
func TestAdminStateBounded(t *testing.T) {
	cfg := AlertsConfig{MaxAdminSubjects: 2}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := NewEngine(cfg, testTracker(t).Device)
	for i, id := range []string{"a", "b", "c"} {
		rcv := at(time.Duration(i) * time.Hour)
		e.Admin(dossierEv(t, id, "resolved", rcv, rcv, rcv+1000), rcv)
	}
	if d, _, dropped := e.AdminSubjects(); d != 2 || dropped != 1 {
		t.Errorf("%d dossiers kept, %d dropped; want 2 and 1", d, dropped)
	}
	e.Tick(at(31 * 24 * time.Hour))
	if d, _, _ := e.AdminSubjects(); d != 0 {
		t.Errorf("%d dossiers kept past the horizon", d)
	}
}

func TestAdminRulesConfig(t *testing.T) {
	off := false
	for name, tc := range map[string]struct {
		rules []Rule
		want  string
	}{
		"lead":          {[]Rule{{Name: "d", Kind: KindDossierDue, Lead: -time.Hour}}, "lead"},
		"late severity": {[]Rule{{Name: "d", Kind: KindDossierDue, LateSeverity: "urgent"}}, "late_severity"},
		"horizon":       {[]Rule{{Name: "t", Kind: KindTaskOverdue, Horizon: time.Minute}}, "horizon"},
		"two":           {[]Rule{{Name: "d", Kind: KindDossierDue}, {Name: "d2", Kind: KindDossierDue}}, "one per kind"},
		"lead on task":  {[]Rule{{Name: "t", Kind: KindTaskOverdue, Lead: time.Hour}}, "dossier_due rules only"},
		"lead on aqi":   {[]Rule{{Name: "a", Kind: KindFeedSilent, Horizon: time.Hour}}, "only"},
	} {
		c := AlertsConfig{Rules: tc.rules}
		c.Defaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", name, err, tc.want)
		}
	}
	// two rules of a kind are fine when one is off
	c := AlertsConfig{Rules: []Rule{{Name: "d", Kind: KindDossierDue, Enabled: &off}, {Name: "d2", Kind: KindDossierDue, Lead: 2 * time.Hour}}}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := c.Rules[1]; r.Lead != 2*time.Hour || r.LateSeverity != event.SeverityAlert || r.Horizon != DefaultHorizon || r.EscalateAfter != time.Hour {
		t.Errorf("defaults: %+v", r)
	}
	e := NewEngine(c, testTracker(t).Device)
	rcv := at(0)
	got := e.Admin(dossierEv(t, "d-1", "received", rcv, rcv, at(3*time.Hour)), rcv)
	if adminTransitions(got) != "" || len(e.AdminKinds()) != 1 {
		t.Errorf("lead 2h, due in 3h: %s (kinds %v)", adminTransitions(got), e.AdminKinds())
	}
	if got := e.Tick(at(time.Hour)); adminTransitions(got) != "d2/dossier:d-1 open L0 warning [Sắp đến hạn] @1h" {
		t.Errorf("the enabled rule: %s", adminTransitions(got))
	}
	// every administrative rule off: the monitor reads no administrative feed
	c = AlertsConfig{Rules: []Rule{{Name: "t", Kind: KindTaskOverdue, Enabled: &off}}}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if e := NewEngine(c, testTracker(t).Device); len(e.AdminKinds()) != 0 || len(e.Admin(taskEv(t, "kh", "assigned", at(0), "2026-01-01"), at(0))) != 0 {
		t.Error("a disabled rule is evaluated")
	}
}

func testTracker(t *testing.T) *Tracker { return NewTracker(testStatusConfig(), testReg(t), t0) }
