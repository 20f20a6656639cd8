package dashboard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// runWallLoop flushes and ticks the wall model as runWall does (every
// 50 ms and every second) until ctx ends: the browser tests' wall.
func runWallLoop(ctx context.Context, s *Service) {
	flush, tick := time.NewTicker(50*time.Millisecond), time.NewTicker(time.Second)
	defer flush.Stop()
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			s.wall.flush()
		case <-tick.C:
			s.wall.tick()
		}
	}
}

// seedDeviceHistory stores for pageDevice two status changes (offline at
// statusFrom, online again two hours later) and one resolved PM2.5 alert
// opened at opened with message msg: the device page's history and alerts.
func seedDeviceHistory(ctx context.Context, t *testing.T, conn driver.Conn, db string, statusFrom, opened time.Time, msg string) {
	t.Helper()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".device_status_events_raw (event_id, kind, device_id, partner, status, previous, cause, at, at_ms, last_seen_ms)")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []struct{ status, prev, cause string }{{"offline", "online", "silent"}, {"online", "offline", "reading"}} {
		at := statusFrom.Add(time.Duration(i*2) * time.Hour)
		if err := b.Append(fmt.Sprint("st-", i), "device", pageDevice, "viettel", s.status, s.prev, s.cause, at, at.UnixMilli(), at.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	b, err = conn.PrepareBatch(ctx, "INSERT INTO "+db+".alert_events_raw (event_id, alert_id, rule, kind, severity, state, seq, acked, device_id, partner, metric, value, threshold, message, opened_at, opened_ms, at, at_ms, operator)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("al-1", "al-pm25", "pm25_high", "threshold", "alert", "resolved", uint32(2), uint8(1), pageDevice, "viettel", "pm25", 88.0, 75.0,
		msg, opened, opened.UnixMilli(), opened.Add(time.Hour), opened.Add(time.Hour).UnixMilli(), "Lò Văn Hùng"); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}
