package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// A flood of refusals from one address, and a smaller one from many, can
// neither drop nor delay a real audit event, on the real ClickHouse: every
// real event is written; refusals are written one by one up to the rate
// per address, the rest as summary rows whose counts add up, so that no
// refusal is lost either.
func TestRefusalFloodCannotDropRealEvents(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_audit", schema.Migrate)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)

	w := audit.New(audit.Config{Queue: 100, RefusalsPerAddress: 10, RefusalsPerMinute: 50}, ch, "dashboard", log, nil)
	// Everything is recorded before the writer runs: the worst case, where
	// nothing drains the queues meanwhile.
	const flood, spread, real = 5000, 300, 50
	for i := range flood {
		w.Record(audit.Event{Action: "auth.login", Outcome: audit.Denied, Reason: "wrong_password", Actor: fmt.Sprint("guess-", i),
			Target: "local", Remote: "192.0.2.7", UserAgent: "flood"})
	}
	for i := range spread {
		w.Record(audit.Event{Action: "ws.connect", Outcome: audit.Denied, Reason: "no_credentials", Target: "GET /ws",
			Remote: fmt.Sprintf("198.51.100.%d", i%150), UserAgent: "spread"})
	}
	for i := range real {
		w.Record(audit.Event{ID: fmt.Sprintf("real-%03d", i), Action: "alert.ack", Outcome: audit.OK, Actor: "an", Target: "alert:a-1", Remote: "192.0.2.7"})
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	cancel() // shutdown writes what waits, summaries included
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+ch.SecurityTable("audit_log")+" WHERE startsWith(event_id, 'real-')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != real {
		t.Errorf("%d of %d real events written after %d refusals", n, real, flood+spread)
	}
	evs, err := audit.NewReader(ch).Query(ctx, conn, audit.Filter{Outcome: audit.Denied, Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	rows, counted := map[string]int{}, map[string]int{}
	for _, e := range evs {
		rows[e.UserAgent]++
		if c := audit.SummaryCount(e); c > 0 {
			counted[e.UserAgent] += c
		} else {
			counted[e.UserAgent]++
		}
	}
	t.Logf("flood of %d from one address: %d rows; %d from 150 addresses: %d rows", flood, rows["flood"], spread, rows["spread"])
	if rows["flood"] > 10+1 {
		t.Errorf("%d rows for %d refusals from one address; want at most 10 one by one and one summary", rows["flood"], flood)
	}
	if counted["flood"] != flood || counted["spread"] != spread {
		t.Errorf("refusals accounted for: %d of %d (one address), %d of %d (150 addresses)", counted["flood"], flood, counted["spread"], spread)
	}
}
