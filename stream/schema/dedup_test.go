package schema

import (
	"context"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
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
	// The writer: stream's flush lowers the watermark with a Lowerer before
	// each insert. Its clock is the test's: later moves it on.
	clock := time.Now()
	writer := NewLowerer(ch)
	writer.now = func() time.Time { return clock }
	defer func(g time.Duration) { watermarkGrace = g }(watermarkGrace)
	// later is "more than WatermarkGrace later": the writer's row expired
	// for itself, and for the next dedup run.
	later := func() {
		clock = clock.Add(WatermarkGrace/2 + time.Second)
		watermarkGrace = -time.Second
	}
	insert := func(at time.Time, from, to int) {
		t.Helper()
		if err := writer.Cover(ctx, conn, at.UnixMilli()+int64(from)*1000); err != nil {
			t.Fatal(err)
		}
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
	// watermark is the view's own split point, read from its text (a read
	// of analyst_watermark, no system.parts); the dedup run's own row must
	// be what dedup.go computes from system.parts.
	watermark := func(stage string) time.Time {
		t.Helper()
		var create string
		if err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+ch.Database+".sensor_readings").Scan(&create); err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(create, "observed_at < ")
		sub, ok2 := balanced(rest)
		if !ok || !ok2 || strings.Contains(sub, "system.parts") {
			t.Fatalf("%s: no stored watermark in the view: %s", stage, create)
		}
		var got time.Time
		if err := conn.QueryRow(ctx, "SELECT "+sub).Scan(&got); err != nil {
			t.Fatalf("%s: the view's watermark %s: %v", stage, sub, err)
		}
		return got
	}
	dedupRow := func(stage string) {
		t.Helper()
		var got time.Time
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT min(grouped_from), toUInt64(count()) FROM "+ch.Database+".analyst_watermark WHERE source = 'dedup'").Scan(&got, &n); err != nil {
			t.Fatal(err)
		}
		states, _, err := partitionStates(ctx, conn, ch.Database, "sensor_readings_raw", math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		if want := viewWatermark(states); n != 1 || !got.Equal(want) {
			t.Errorf("%s: %d dedup rows, grouped from %s; want one, %s (dedup.go from system.parts)", stage, n, got, want)
		}
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
		dedupRow(stage)
	}
	lowered := func(at time.Time) time.Time { return at.Truncate(time.Minute).Add(-time.Minute) }
	nowMonth := now.Format("200601")

	if w := watermark("before any write"); w.Unix() != 0 {
		t.Errorf("before any dedup run the view groups from %s, want everything grouped (1970)", w)
	}
	insert(old, 0, 10)
	insert(now, 0, 10)
	insert(old, 0, 3) // redelivered
	insert(now, 5, 8)
	check("before the dedup", 20, 10)
	if w := watermark("before the dedup"); !w.Equal(lowered(old)) {
		t.Errorf("before the dedup the view groups from %s, want %s (the writer's row: the minute before its oldest reading)", w, lowered(old))
	}

	merges("first dedup", oldMonth, nowMonth)
	check("after the dedup", 20, 10)
	// The writer's row is younger than WatermarkGrace: it stays.
	if w := watermark("after the dedup, within the grace"); !w.Equal(lowered(old)) {
		t.Errorf("right after the dedup the view groups from %s, want %s: the writer's row is kept for WatermarkGrace", w, lowered(old))
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
	later()
	merges("second dedup, nothing new")
	check("after the second dedup", 20, 10)
	if w := watermark("after the second dedup"); !w.Equal(noWatermark) {
		t.Errorf("after the dedup the view groups from %s, want nothing grouped (%s): every month is one merged part", w, noWatermark)
	}

	// Since the last run: new readings, a redelivery of merged ones (a
	// batch re-sent after a crash), and a replay into the old month.
	insert(now, 10, 15)
	check("new readings after the dedup", 25, 10)
	if w := watermark("new readings after the dedup"); !w.Equal(lowered(now.Add(10 * time.Second))) {
		t.Errorf("with new readings only the view groups from %s, want %s (the writer's row)", w, lowered(now.Add(10*time.Second)))
	}
	insert(now, 0, 2)
	check("a redelivery into the merged open month", 25, 10)
	insert(old, 2, 6)
	check("a replay into the merged old month", 25, 10)
	if w := watermark("a replay into the merged old month"); !w.Equal(lowered(old.Add(2 * time.Second))) {
		t.Errorf("after a replay the view groups from %s, want %s (the replayed reading)", w, lowered(old.Add(2*time.Second)))
	}
	// A dedup run that starts while the writer's rows are young keeps them.
	watermarkGrace = WatermarkGrace
	merges("dedup after the replay", oldMonth, nowMonth)
	check("after the dedup of the replay", 25, 10)
	if w := watermark("after the dedup of the replay"); !w.Equal(lowered(old.Add(2 * time.Second))) {
		t.Errorf("after the dedup of the replay the view groups from %s, want %s: the writer's rows are kept for WatermarkGrace", w, lowered(old.Add(2*time.Second)))
	}
	// A late reading inside ingest.max_past after the watermark rose again:
	// the writer's row covers it before it lands in the merged month.
	later()
	merges("dedup after the grace")
	if w := watermark("dedup after the grace"); !w.Equal(noWatermark) {
		t.Errorf("after the grace the view groups from %s, want nothing grouped", w)
	}
	late := now.Add(-20 * 24 * time.Hour)
	insert(late, 0, 1)
	insert(late, 0, 1) // and its redelivery
	insert(old, 0, 6)  // a replay of merged readings
	check("a late reading and a replay after the watermark rose", 26, 10)
	later()
	merges("the last dedup", oldMonth, late.Format("200601"))
	check("after the last dedup", 26, 10)
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

// A part inserted after `ioc dedup` read system.parts is its writer's to
// answer for (a settled writer's readings are the only copies of their
// keys; an unsettled writer's row covers them): the run's own watermark
// row leaves it out, so steady ingestion during a run does not pull the
// view's watermark below the month it has just merged.
func TestDedupLeavesNewPartsToTheirWriters(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_dedupnew", Migrate)
	ctx := context.Background()
	at := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	insert := func(i int) {
		t.Helper()
		ms := at.UnixMilli() + int64(i)*1000
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(event.ReadingID("vnpt", "d", "pm25", ms), "vnpt", "d", "pm25", int8(1), float64(i), time.UnixMilli(ms), ms); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	insert(0)
	insert(1)
	if _, err := Dedup(ctx, conn, ch, false, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	read, upTo, err := partitionStates(ctx, conn, ch.Database, "sensor_readings_raw", math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	if w := viewWatermark(read); w != noWatermark {
		t.Fatalf("after a dedup run the view groups from %s, want 2106", w)
	}
	insert(2) // after the run's snapshot
	since, _, err := partitionStates(ctx, conn, ch.Database, "sensor_readings_raw", upTo)
	if err != nil {
		t.Fatal(err)
	}
	if w := viewWatermark(since); w != noWatermark {
		t.Errorf("a part inserted after the snapshot (blocks after %d) moved the run's watermark to %s, want 2106", upTo, w)
	}
	all, _, err := partitionStates(ctx, conn, ch.Database, "sensor_readings_raw", math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	if w, want := viewWatermark(all), at.Add(2*time.Second); !w.Equal(want) {
		t.Errorf("the next run's snapshot: the view groups from %s, want %s (the new part is unmerged)", w, want)
	}
}

// A writer whose process did not run for a while (stopped, a paused VM)
// may have lost its partitions without knowing: it is unsettled again.
func TestPausedWriterIsUnsettled(t *testing.T) {
	l := NewLowerer(chconn.Config{Database: "ioc"})
	clock := l.unsettledUntil.Add(-watermarkGrace) // its start
	l.now = func() time.Time { return clock }
	l.mono = l.now
	clock = clock.Add(WatermarkGrace)
	if !l.Settled() {
		t.Fatal("not settled WatermarkGrace after its start")
	}
	l.checkPause(true) // WatchPauses ticks
	clock = clock.Add(time.Second)
	l.checkPause(true)
	if !l.Settled() {
		t.Fatal("a writer running every second is not settled")
	}
	clock = clock.Add(pauseLimit + time.Second)
	if l.Settled() {
		t.Error("a writer that did not run for more than pauseLimit is settled")
	}
	paused := clock
	for clock.Before(paused.Add(WatermarkGrace)) { // WatchPauses ticks again
		if l.Settled() {
			t.Fatalf("settled again %s after the pause, before WatermarkGrace", clock.Sub(paused))
		}
		l.checkPause(true)
		clock = clock.Add(time.Second)
	}
	if !l.Settled() {
		t.Error("not settled WatermarkGrace after the pause")
	}
}
