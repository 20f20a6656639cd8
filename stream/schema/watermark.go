package schema

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

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

// Lowerer keeps the analyst view exact for a writer of sensor_readings_raw:
// Cover, called before each insert, lowers the view's watermark to below
// the batch's oldest reading unless the writer's last row still covers it.
// A nil Lowerer (cluster mode: the view is FINAL) does nothing.
type Lowerer struct {
	db, run string
	mu      sync.Mutex
	have    bool
	low     int64     // the writer's last row, ms
	since   time.Time // when it was sent (local clock)
	now     func() time.Time
}

// NewLowerer returns the Lowerer of one writer (nil in cluster mode).
func NewLowerer(ch chconn.Config) *Lowerer {
	if ch.Cluster != "" {
		return nil
	}
	return &Lowerer{db: ch.Database, run: newRunID(), now: time.Now}
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
	if l.have && l.low <= minObservedMs && start.Sub(l.since) < WatermarkGrace/2 {
		return nil
	}
	from := time.UnixMilli(minObservedMs).Truncate(lowerStep).Add(-lowerStep)
	if err := insertWatermark(ctx, conn, l.db, from, "writer", l.run); err != nil {
		return err
	}
	l.have, l.low, l.since = true, from.UnixMilli(), start
	return nil
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
