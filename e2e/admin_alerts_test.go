package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
)

// alertOf returns the id of the alert of a rule and subject (the newest if
// there were several), or "".
func alertOf(t *testing.T, rule, subject string) string {
	t.Helper()
	var id string
	err := pipe.conn.QueryRow(context.Background(), "SELECT alert_id FROM "+pipe.ch.Database+
		".alert_events WHERE rule = ? AND subject = ? ORDER BY opened_ms DESC LIMIT 1", rule, subject).Scan(&id)
	if err != nil && !strings.Contains(err.Error(), "no rows") {
		t.Fatal(err)
	}
	return id
}

// Administrative events raise alerts with the sensor alerts' lifecycle: a
// dossier due within 24 hours opens a dossier_due alert (stored in
// ClickHouse, on the alerts topic the wall reads), an operator acknowledges
// it on the wall's API, and the dossier's resolution resolves it; a
// reform-plan task past its due date opens a task_overdue alert, and done
// resolves it.
//
// The alert rules judge due times against the wall clock, whereas the KPI
// tiles of this run's feeds (the H1-2021 scenario, kpi_test.go) are as of
// the newest event time. So that these events move no tile, their own
// times (received, state changes) are in January 2020, before the
// scenario's period and the watermark, and the task belongs to the 2020
// plan; only the due times are real.
func TestAdminEventsRaiseAlerts(t *testing.T) {
	run := pipe.run
	now := time.Now().In(event.Location).Truncate(time.Second)
	past := time.Date(2020, 1, 6, 8, 0, 0, 0, event.Location)
	post := func(kind, body string) {
		t.Helper()
		if code, resp := postEvents(t, kind, pipe.feeds.token, "application/json", []byte("["+body+"]")); code != http.StatusAccepted {
			t.Fatalf("POST %s: %d %+v", kind, code, resp)
		}
	}

	t.Run("dossier about to be late", func(t *testing.T) {
		id := "e2e-hs-" + run
		subject := "dossier:" + id
		rcv, due := past, now.Add(2*time.Hour)
		opened := due.Add(-24 * time.Hour) // max(due − lead, received)
		dossier := func(state string, at time.Time) string {
			return fmt.Sprintf(`{"dossier_id":%q,"procedure_code":"1.001742.000.00.00.H50","unit":"ubnd-tp","channel":"online",`+
				`"state":%q,"at":%q,"received_at":%q,"due_at":%q}`, id, state, at.Format(time.RFC3339), rcv.Format(time.RFC3339), due.Format(time.RFC3339))
		}
		post("dossier", dossier("received", rcv))
		eventually(t, 20*time.Second, "dossier_due alert open in {db}.alert_events", func() (bool, string) {
			s := alertStates(t, opened, "dossier_due", subject)
			return s == "open", s
		})
		alert := alertOf(t, "dossier_due", subject)
		if want := event.AlertID("dossier_due", subject, opened.UnixMilli()); alert != want {
			t.Errorf("alert id %s, want the deterministic %s", alert, want)
		}
		if n := count(t, "SELECT count() FROM {db}.alert_events WHERE alert_id = ? AND state = 'open' AND kind = 'dossier_due' "+
			"AND severity = 'warning' AND stage = 'Sắp đến hạn' AND message LIKE ?", alert, "Hồ sơ sắp đến hạn: "+id+"%"); n != 1 {
			t.Errorf("the open transition as stored: %d rows match", n)
		}
		if msgs := readTopic(t, event.TopicAlerts, func(m kafka.Message) bool { return string(m.Key) == alert }, 20*time.Second); len(msgs) == 0 {
			t.Errorf("the alert is not on %s (what the wall reads)", event.TopicAlerts)
		}
		// An operator acknowledges it on the wall's API (the wall must hold it).
		_, name := ackAsOperator(t, "admalert", alert)
		eventually(t, 20*time.Second, "acknowledged", func() (bool, string) {
			s := alertStates(t, opened, "dossier_due", subject)
			return s == "open acknowledged", s
		})
		// The same event again (a retry of the source system) opens nothing.
		post("dossier", dossier("received", rcv))
		post("dossier", dossier("resolved", past.Add(24*time.Hour)))
		eventually(t, 20*time.Second, "resolved with the dossier", func() (bool, string) {
			s := alertStates(t, opened, "dossier_due", subject)
			return s == "open acknowledged resolved", s
		})
		if n := count(t, "SELECT count() FROM {db}.alerts WHERE subject = ? AND state = 'resolved' AND acknowledged_by = ?", subject, name); n != 1 {
			t.Errorf("{db}.alerts: %d resolved alerts acknowledged by %s for %s, want 1", n, name, subject)
		}
	})

	t.Run("reform task overdue", func(t *testing.T) {
		id := "e2e-kh-" + run
		subject := "task:" + id
		dueDay := now.AddDate(0, 0, -2)
		dueDate := dueDay.Format(time.DateOnly)
		y, m, d := dueDay.Date()
		ends := time.Date(y, m, d+1, 0, 0, 0, 0, event.Location) // the midnight that ends the due date
		task := func(state string, at time.Time) string {
			return fmt.Sprintf(`{"task_id":%q,"plan":"E2E/QĐ-UBND","plan_year":2020,"main_task":3,"title":"E2E nhiệm vụ","owner_unit":"phong-noi-vu",`+
				`"due_date":%q,"state":%q,"at":%q}`, id, dueDate, state, at.Format(time.RFC3339))
		}
		post("task", task("in_progress", past))
		eventually(t, 20*time.Second, "task_overdue alert open in {db}.alert_events", func() (bool, string) {
			s := alertStates(t, ends, "task_overdue", subject)
			return s == "open", s
		})
		if alert := alertOf(t, "task_overdue", subject); alert != event.AlertID("task_overdue", subject, ends.UnixMilli()) {
			t.Errorf("alert id %s is not the deterministic one (opened at %s)", alert, ends)
		}
		post("task", task("done", past.Add(24*time.Hour)))
		eventually(t, 20*time.Second, "resolved when done", func() (bool, string) {
			s := alertStates(t, ends, "task_overdue", subject)
			return s == "open resolved", s
		})
	})
}

// ackAsOperator signs in as a new operator account "<account>-<run>" and
// acknowledges the alert on the wall's API, until the wall (which must
// hold the alert) accepts it. It returns the operator signed in and the
// account's name.
func ackAsOperator(t *testing.T, account, alert string) (*person, string) {
	t.Helper()
	name, pw := newAccount(t, account, auth.RoleOperator)
	op, code := login(t, agent(t), name, pw)
	if code != http.StatusSeeOther {
		t.Fatalf("operator sign-in: %d", code)
	}
	h := http.Header{"X-CSRF-Token": {op.csrf}, "Content-Type": {"application/json"}}
	eventually(t, 20*time.Second, "the wall accepts the acknowledgement", func() (bool, string) {
		code := op.status(t, "POST", "/api/alerts/"+alert+"/ack", h)
		return code/100 == 2, fmt.Sprint(code)
	})
	return op, name
}
