package schema

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
)

// Redelivered readings in a recent (open) and an old (closed) month: the
// analyst view shows each reading once before the scheduled dedup, after it,
// after a replay into the merged month, and after the next dedup.
func TestAnalystViewExactAcrossDedup(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_dedup", Migrate)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
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
	check := func(stage string, want, wantOld uint64) {
		t.Helper()
		var rows, ids uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()), toUInt64(uniqExact(event_id)) FROM "+ch.Database+".sensor_readings").Scan(&rows, &ids); err != nil {
			t.Fatal(err)
		}
		var oldRows uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+ch.Database+".sensor_readings WHERE toYYYYMM(observed_at) = "+oldMonth).Scan(&oldRows); err != nil {
			t.Fatal(err)
		}
		if rows != want || ids != want || oldRows != wantOld {
			t.Errorf("%s: the view shows %d rows (%d event ids), %d in %s; want %d, %d, %d: no duplicate", stage, rows, ids, oldRows, oldMonth, want, want, wantOld)
		}
	}
	// watermark is the view's own split point, read from its text, and
	// what dedup.go computes from system.parts: they must agree.
	watermark := func(stage string) time.Time {
		t.Helper()
		var create string
		if err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+ch.Database+".sensor_readings").Scan(&create); err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(create, "observed_at < ")
		sub, ok2 := balanced(rest)
		if !ok || !ok2 {
			t.Fatalf("%s: no watermark in the view: %s", stage, create)
		}
		var got time.Time
		if err := conn.QueryRow(ctx, "SELECT "+sub).Scan(&got); err != nil {
			t.Fatalf("%s: the view's watermark %s: %v", stage, sub, err)
		}
		states, err := partitionStates(ctx, conn, ch.Database, "sensor_readings_raw")
		if err != nil {
			t.Fatal(err)
		}
		if want := viewWatermark(states); !got.Equal(want) {
			t.Errorf("%s: the view splits at %s, dedup.go computes %s", stage, got, want)
		}
		return got
	}
	merges := func(stage string, want ...string) {
		t.Helper()
		actions, err := Dedup(ctx, conn, ch, false, log)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		var wantStmts []string
		for _, p := range want {
			wantStmts = append(wantStmts, "OPTIMIZE TABLE "+ch.Database+".sensor_readings_raw PARTITION "+p+" FINAL")
		}
		if strings.Join(actions, "\n") != strings.Join(wantStmts, "\n") {
			t.Errorf("%s: dedup did %q, want %q", stage, actions, wantStmts)
		}
	}
	nowMonth := now.Format("200601")

	insert(old, 0, 10)
	insert(now, 0, 10)
	insert(old, 0, 3) // redelivered
	insert(now, 5, 8)
	check("before the dedup", 20, 10)
	if w := watermark("before the dedup"); !w.Equal(old.Truncate(time.Second)) {
		t.Errorf("before the dedup the view groups from %s, want %s (the oldest unmerged reading)", w, old)
	}

	merges("first dedup", oldMonth, nowMonth)
	check("after the dedup", 20, 10)
	if w := watermark("after the dedup"); !w.Equal(noWatermark) {
		t.Errorf("after the dedup the view groups from %s, want nothing grouped (%s): every month is one merged part", w, noWatermark)
	}
	var logged uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+ch.Database+".dedup_log WHERE partition IN (?, ?)", oldMonth, nowMonth).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != 2 {
		t.Errorf("dedup_log: %d rows for %s and %s, want 2", logged, oldMonth, nowMonth)
	}
	// Merged months are read as they are: their raw rows are the view's.
	var raw uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+ch.Database+".sensor_readings_raw").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != 20 {
		t.Errorf("after OPTIMIZE FINAL the table holds %d raw rows, want 20", raw)
	}
	merges("second dedup, nothing new")

	// Since the last run: new readings, a redelivery of merged ones (a
	// batch re-sent after a crash), and a replay into the old month.
	insert(now, 10, 15)
	check("new readings after the dedup", 25, 10)
	if w := watermark("new readings after the dedup"); !w.Equal(now.Add(10 * time.Second).Truncate(time.Second)) {
		t.Errorf("with new readings only the view groups from %s, want %s (the oldest new reading)", w, now.Add(10*time.Second))
	}
	insert(now, 0, 2)
	check("a redelivery into the merged open month", 25, 10)
	insert(old, 2, 6)
	check("a replay into the merged old month", 25, 10)
	if w := watermark("a replay into the merged old month"); !w.Equal(old.Add(2 * time.Second).Truncate(time.Second)) {
		t.Errorf("after a replay the view groups from %s, want %s (the replayed reading)", w, old.Add(2*time.Second))
	}
	merges("dedup after the replay", oldMonth, nowMonth)
	check("after the second merge", 25, 10)
	watermark("after the second merge")
}

// balanced returns the parenthesised expression s starts with.
func balanced(s string) (string, bool) {
	depth := 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[:i+1], true
			}
		}
		if depth == 0 {
			return "", false
		}
	}
	return "", false
}
