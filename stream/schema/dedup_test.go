package schema

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
)

func TestDedupWatermark(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, event.Location)
	if got, want := DedupWatermark(now, 30*24*time.Hour), time.Date(2026, 11, 1, 0, 0, 0, 0, event.Location); !got.Equal(want) {
		t.Errorf("watermark %s, want %s (5 Dec - 30 days = 5 Nov: October is the newest closed month)", got, want)
	}
}

// Redelivered readings in a recent (open) and an old (closed) month: the
// analyst view shows each reading once before the scheduled dedup, after it,
// after a replay into the merged month, and after the next dedup.
func TestAnalystViewExactAcrossDedup(t *testing.T) {
	addr := os.Getenv("IOC_CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("IOC_CLICKHOUSE_ADDR not set: runs against the local ClickHouse (make test)")
	}
	ch := chconn.Config{Addr: strings.Split(addr, ","), Database: fmt.Sprintf("ioc_dedup_%d%04d", time.Now().Unix()%100000, rand.IntN(10000))}
	ch.Defaults()
	ctx := context.Background()
	conn, err := ch.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ch.Database)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := Migrate(ctx, conn, ch, log); err != nil {
		t.Fatal(err)
	}
	const maxPast = 30 * 24 * time.Hour
	now := time.Now().In(event.Location)
	old := time.Date(now.Year(), now.Month(), 10, 12, 0, 0, 0, event.Location).AddDate(0, -3, 0)
	oldMonth := old.Format("200601")
	insert := func(at time.Time, from, to int) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms)")
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			ms := at.UnixMilli() + int64(i)*1000
			if err := b.Append(event.ReadingID("vnpt", "d", "pm25", ms), "vnpt", "d", "pm25", int8(1), float64(i), time.UnixMilli(ms), ms); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string) {
		t.Helper()
		var rows, ids uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()), toUInt64(uniqExact(event_id)) FROM "+ch.Database+".sensor_readings").Scan(&rows, &ids); err != nil {
			t.Fatal(err)
		}
		var oldRows uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+ch.Database+".sensor_readings WHERE toYYYYMM(observed_at) = "+oldMonth).Scan(&oldRows); err != nil {
			t.Fatal(err)
		}
		if rows != 20 || ids != 20 || oldRows != 10 {
			t.Errorf("%s: the view shows %d rows (%d event ids), %d in %s; want 20, 20, 10: no duplicate", stage, rows, ids, oldRows, oldMonth)
		}
	}
	merges := func(stage string, want int) {
		t.Helper()
		actions, err := Dedup(ctx, conn, ch, maxPast, now, false, log)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		wantStmt := "OPTIMIZE TABLE " + ch.Database + ".sensor_readings_raw PARTITION " + oldMonth + " FINAL"
		if len(actions) != want || want == 1 && actions[0] != wantStmt {
			t.Errorf("%s: dedup did %q, want %d × %q (only the closed month)", stage, actions, want, wantStmt)
		}
	}

	insert(old, 0, 10)
	insert(now, 0, 10)
	insert(old, 0, 3) // redelivered
	insert(now, 5, 8)
	check("before the dedup")

	merges("first dedup", 1)
	check("after the dedup")
	var logged uint64
	var closedBefore time.Time
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()), max(closed_before) FROM "+ch.Database+".dedup_log WHERE partition = ?", oldMonth).Scan(&logged, &closedBefore); err != nil {
		t.Fatal(err)
	}
	if logged != 1 || !closedBefore.Equal(DedupWatermark(now, maxPast)) {
		t.Errorf("dedup_log: %d rows for %s, closed_before %s; want 1 and %s", logged, oldMonth, closedBefore, DedupWatermark(now, maxPast))
	}
	// The merged month is read without FINAL: its raw rows are the view's.
	var raw uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+ch.Database+".sensor_readings_raw WHERE toYYYYMM(observed_at) = "+oldMonth).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != 10 {
		t.Errorf("after OPTIMIZE FINAL the closed month holds %d raw rows, want 10", raw)
	}
	merges("second dedup, nothing new", 0)

	// A replay into the merged month and a redelivery into the open one.
	insert(old, 2, 6)
	insert(now, 0, 2)
	check("after a replay into the merged month")
	merges("dedup after the replay", 1)
	check("after the second merge")
}
