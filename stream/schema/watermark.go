package schema

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
)

// WatermarkGrace is how long a writer's row in analyst_watermark outlives
// the start of the `ioc dedup` run that may delete it
// (130_analyst_watermark.sql). A writer relies on its row for half of it
// (Lowerer), and a batch insert gives up after a minute (stream's insert
// timeout), so any batch that relied on a deleted row was visible in
// system.parts when that run read it, and counted in the run's own row.
const WatermarkGrace = 5 * time.Minute

// watermarkGrace is WatermarkGrace; a test that moves its writer's clock
// on moves it too.
var watermarkGrace = WatermarkGrace

// lowerStep is how far below a batch's oldest reading a writer lowers the
// watermark (to the minute before): readings a little late need no new row.
const lowerStep = time.Minute

// Lowerer keeps the analyst view exact for a writer of sensor_readings_raw.
// A writer inserts a batch of readings in one of two ways:
//
//   - settled (Settled): it looks every key of the batch up (StoredAll),
//     leaves out what is stored, and inserts the rest without touching the
//     watermark. Each reading it inserts is then the only copy of its key,
//     so the view may read it without grouping, whatever its time: in
//     steady ingestion the watermark stays where `ioc dedup` set it (2106
//     once every month is merged) and the view groups nothing.
//   - unsettled: Cover, before the insert, lowers the view's watermark to
//     below the batch's oldest reading (unless the writer's last row still
//     covers it), so whatever copies exist are grouped until the next
//     `ioc dedup` merges them.
//
// A lookup is exact only if no other writer inserts the same key between
// it and the insert. Copies of a reading share a Kafka partition (ingest
// keys records by device) and one consumer owns a partition, so that
// happens only around a change of owner: the old owner's last batch still
// being written while the new one reads it again. A writer is therefore
// unsettled for WatermarkGrace (stream.settle_after) after it starts, after every rebalance it
// sees (Unsettle) and after a pause of its process (WatchPauses: a member
// stopped longer than the session timeout lost its partitions before it
// can know), and a batch whose first attempt failed is retried unsettled
// (its first insert may still land). WatermarkGrace is more
// than a lookup and an insert may take (60 s together) after a rebalance,
// so of two copies written at once one is always covered.
// A nil Lowerer (cluster mode: the view is FINAL) does nothing.
type Lowerer struct {
	db, run string
	mu      sync.Mutex
	have    bool
	low     int64     // the writer's last row, ms
	since   time.Time // when it was sent (local clock)
	// unsettledUntil ends the writer's unsettled time (local clock), which
	// lasts settle (WatermarkGrace unless SettleAfter).
	unsettledUntil time.Time
	settle         time.Duration
	// lastAlive is when WatchPauses last ran (zero when it does not), by
	// mono, the clock pauses are measured with (not moved by SetClock).
	lastAlive time.Time
	now, mono func() time.Time
}

// pauseLimit is how long a writer may go without running before it counts
// as paused (a stopped process, a paused VM): its group may have given its
// partitions to another member meanwhile, which it learns only at its next
// heartbeat, after it may have written a batch.
const pauseLimit = 5 * time.Second

// WatchPauses notes every second that the writer runs; a gap longer than
// pauseLimit (seen here, or by Settled first) unsettles it. It returns
// when ctx ends.
func (l *Lowerer) WatchPauses(ctx context.Context) {
	if l == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		l.mu.Lock()
		l.checkPause(true)
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkPause unsettles the writer if WatchPauses did not run for
// pauseLimit, and with alive notes that it runs now (l.mu held).
func (l *Lowerer) checkPause(alive bool) {
	at := l.mono()
	if !l.lastAlive.IsZero() && at.Sub(l.lastAlive) > pauseLimit {
		l.unsettledUntil = l.now().Add(l.settle)
	}
	if alive {
		l.lastAlive = at
	}
}

// NewLowerer returns the Lowerer of one writer (nil in cluster mode),
// unsettled for WatermarkGrace.
func NewLowerer(ch chconn.Config) *Lowerer {
	if ch.Cluster != "" {
		return nil
	}
	l := &Lowerer{db: ch.Database, run: newRunID(), now: time.Now, mono: time.Now, settle: watermarkGrace}
	l.unsettledUntil = l.now().Add(l.settle)
	return l
}

// SettleAfter sets how long the writer stays unsettled (from its start,
// a rebalance, a pause); stream.settle_after checks the bound.
func (l *Lowerer) SettleAfter(d time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unsettledUntil = l.unsettledUntil.Add(d - l.settle)
	l.settle = d
}

// SetClock replaces the writer's clock (tests and the analyst benchmark
// move it past the unsettled time).
func (l *Lowerer) SetClock(now func() time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// Unsettle starts a new unsettled time: the writer saw a rebalance (or
// replaced its Kafka reader), so another writer may still be inserting
// what it reads now.
func (l *Lowerer) Unsettle() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unsettledUntil = l.now().Add(l.settle)
}

// Settled says whether the writer may insert looked-up readings without
// lowering the watermark (false for a nil Lowerer).
func (l *Lowerer) Settled() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checkPause(false)
	return !l.now().Before(l.unsettledUntil)
}

// Cover makes sure the analyst view groups every reading observed from
// minObservedMs on, before the writer inserts such readings.
func (l *Lowerer) Cover(ctx context.Context, conn driver.Conn, minObservedMs int64) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	start := l.now()
	if l.covers(minObservedMs, start) {
		return nil
	}
	from := time.UnixMilli(minObservedMs).Truncate(lowerStep).Add(-lowerStep)
	if err := insertWatermark(ctx, conn, l.db, from, "writer", l.run); err != nil {
		return err
	}
	l.have, l.low, l.since = true, from.UnixMilli(), start
	return nil
}

// covers says whether the writer's last row still covers minObservedMs
// (l.mu held).
func (l *Lowerer) covers(minObservedMs int64, now time.Time) bool {
	return l.have && l.low <= minObservedMs && now.Sub(l.since) < WatermarkGrace/2
}

// Stored marks the readings of a batch (its key columns: the ORDER BY of
// sensor_readings_raw) that are already stored and observed before the
// analyst view's watermark: a batch re-sent after a crash, a replay of
// what ClickHouse already holds. The writer leaves them out, so they do
// not lower the watermark: the view keeps reading their merged month
// without grouping it. Leaving them out is exact, as the view shows one
// row per key and that key's row is stored; a reading whose key is not
// stored is inserted and covered (Cover) as before, so two writers
// inserting one new key at once both lower the watermark first.
//
// It reads ClickHouse only when the batch reaches below what the writer's
// own row covers (a late batch; not in the steady flow), and returns nil
// when nothing is to be left out.
func (l *Lowerer) Stored(ctx context.Context, conn driver.Conn, partner, device, metric []string, observedMs []int64) ([]bool, error) {
	if l == nil || len(observedMs) == 0 {
		return nil, nil
	}
	low := observedMs[0]
	for _, ms := range observedMs[1:] {
		low = min(low, ms)
	}
	l.mu.Lock()
	covered := l.covers(low, l.now())
	l.mu.Unlock()
	if covered {
		return nil, nil
	}
	q, err := dedupQueries.Render("watermark.sql", map[string]any{"DB": l.db})
	if err != nil {
		return nil, err
	}
	var w int64
	if err := conn.QueryRow(ctx, q).Scan(&w); err != nil {
		return nil, fmt.Errorf("reading the analyst view's watermark from %s.analyst_watermark: %w (run `ioc migrate`: migration 130 creates it)", l.db, err)
	}
	return l.lookup(ctx, conn, partner, device, metric, observedMs, w)
}

// StoredAll marks the readings of a batch whose key is stored, whatever
// their time: what a settled writer leaves out (nil when none is).
func (l *Lowerer) StoredAll(ctx context.Context, conn driver.Conn, partner, device, metric []string, observedMs []int64) ([]bool, error) {
	if l == nil || len(observedMs) == 0 {
		return nil, nil
	}
	return l.lookup(ctx, conn, partner, device, metric, observedMs, math.MaxInt64)
}

// lookupTimeout bounds a key lookup, inside the writer's own insert
// timeout (stream's is 60 s for the lookup and the insert together).
const lookupTimeout = 30 * time.Second

// lookup marks the readings observed before belowMs whose key is stored.
func (l *Lowerer) lookup(ctx context.Context, conn driver.Conn, partner, device, metric []string, observedMs []int64, belowMs int64) ([]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	keys, err := ext.NewTable("batch_keys",
		ext.Column("partner", column.Type("String")), ext.Column("device_id", column.Type("String")),
		ext.Column("metric", column.Type("String")), ext.Column("observed_ms", column.Type("Int64")))
	if err != nil {
		return nil, err
	}
	from, to, n := int64(0), int64(0), 0
	for i, ms := range observedMs {
		if ms >= belowMs {
			continue
		}
		if n == 0 || ms < from {
			from = ms
		}
		to = max(to, ms)
		n++
		if err := keys.Append(partner[i], device[i], metric[i], ms); err != nil {
			return nil, fmt.Errorf("listing the keys of a batch: %w", err)
		}
	}
	if n == 0 {
		return nil, nil
	}
	q, err := dedupQueries.Render("stored_keys.sql", map[string]any{"DB": l.db, "FromSec": from / 1000, "ToSec": to/1000 + 1})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(keys)), q)
	if err != nil {
		return nil, fmt.Errorf("looking up %d readings in %s.sensor_readings_raw: %w", n, l.db, err)
	}
	defer rows.Close()
	type key struct {
		partner, device, metric string
		ms                      int64
	}
	found := map[key]struct{}{}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.partner, &k.device, &k.metric, &k.ms); err != nil {
			return nil, fmt.Errorf("looking up readings in %s.sensor_readings_raw: %w", l.db, err)
		}
		found[k] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up readings in %s.sensor_readings_raw: %w", l.db, err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	stored := make([]bool, len(observedMs))
	for i, ms := range observedMs {
		if ms < belowMs {
			_, stored[i] = found[key{partner[i], device[i], metric[i], ms}]
		}
	}
	return stored, nil
}

// insertWatermark adds one row to analyst_watermark (a batch insert: 18.16
// drops the connection on client-side bound INSERT ... VALUES).
func insertWatermark(ctx context.Context, conn driver.Conn, db string, from time.Time, source, run string) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".analyst_watermark (grouped_from, source, run)")
	if err != nil {
		return fmt.Errorf("lowering the analyst view's watermark in %s.analyst_watermark: %w (run `ioc migrate`: migration 130 creates it)", db, err)
	}
	defer b.Abort()
	if err := b.Append(from, source, run); err != nil {
		return fmt.Errorf("lowering the analyst view's watermark: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("lowering the analyst view's watermark in %s.analyst_watermark: %w", db, err)
	}
	return nil
}

// setWatermark is the end of a dedup run that started at t0 (server clock):
// its own row, then the rows it replaces deleted.
func setWatermark(ctx context.Context, conn driver.Conn, db string, w time.Time, t0 time.Time, log *slog.Logger) error {
	run := newRunID()
	if err := insertWatermark(ctx, conn, db, w, "dedup", run); err != nil {
		return err
	}
	// A mutation: until it is done the old rows still count, which only
	// lowers the watermark (exact, slower).
	stmt := fmt.Sprintf("ALTER TABLE %s.analyst_watermark DELETE WHERE (source = 'dedup' AND run != '%s') OR (source = 'writer' AND set_at < toDateTime(%d))",
		db, run, t0.Add(-watermarkGrace).Unix())
	if err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("raising the analyst view's watermark (deleting the rows of %s.analyst_watermark it replaces): %w", db, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var pending uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.mutations WHERE database = ? AND table = 'analyst_watermark' AND is_done = 0", db).Scan(&pending); err != nil {
			return fmt.Errorf("waiting for the analyst watermark's update: %w", err)
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			log.Warn("dedup: the analyst watermark's old rows are not deleted yet; the view stays exact and groups more until they are", "database", db)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// serverNow is the server's clock (set_at of analyst_watermark is too).
func serverNow(ctx context.Context, conn driver.Conn) (time.Time, error) {
	var t time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&t); err != nil {
		return t, fmt.Errorf("reading the clickhouse server's clock: %w", err)
	}
	return t, nil
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
