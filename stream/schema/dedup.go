package schema

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
)

// DedupWatermark is the start of the month before which every monthly
// partition of sensor_readings_raw lies wholly before now - maxPast: ingest
// no longer accepts readings for them, so once merged they stay closed
// (only a replay can add to them, which the view notices: 080_analyst_view.sql).
func DedupWatermark(now time.Time, maxPast time.Duration) time.Time {
	c := now.In(event.Location).Add(-maxPast)
	return time.Date(c.Year(), c.Month(), 1, 0, 0, 0, 0, event.Location)
}

// partState is what system.parts says of one partition.
type partState struct {
	partition string
	parts     uint64
	maxLevel  uint64
	rows      uint64
}

// clean reports a partition that is exactly one merged part: a merge of a
// ReplacingMergeTree keeps one row per key, so it holds no duplicate.
func (p partState) clean() bool { return p.parts == 1 && p.maxLevel > 0 }

// monthStart parses a toYYYYMM partition id.
func monthStart(p string) (time.Time, bool) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 197001 || n%100 < 1 || n%100 > 12 {
		return time.Time{}, false
	}
	return time.Date(n/100, time.Month(n%100), 1, 0, 0, 0, 0, event.Location), true
}

// Dedup merges, once, every closed month of sensor_readings_raw that is not
// yet one merged part (OPTIMIZE TABLE ... PARTITION p FINAL), records each in
// dedup_log, and moves the watermark of the analyst view (the lowest
// closed_before it sees) up to DedupWatermark. A month is closed when it lies
// wholly before now - maxPast (ingest.max_past); one that got a late or
// replayed reading after its merge has more than one part and is merged
// again. The view reads closed months without FINAL. It returns what it did
// (with dryRun, would do). `ioc retention` runs it daily.
func Dedup(ctx context.Context, conn driver.Conn, ch chconn.Config, maxPast time.Duration, now time.Time, dryRun bool, log *slog.Logger) ([]string, error) {
	if ch.Cluster != "" {
		// The cluster keeps the FINAL view (080_analyst_view.sql).
		return nil, nil
	}
	if maxPast <= 0 {
		return nil, fmt.Errorf("dedup: ingest.max_past %s must be positive", maxPast)
	}
	const table = "sensor_readings_raw"
	watermark := DedupWatermark(now, maxPast)
	states, err := partitionStates(ctx, conn, ch.Database, table)
	if err != nil {
		return nil, err
	}
	var logged time.Time
	if err := conn.QueryRow(ctx, "SELECT max(closed_before) FROM "+ch.Database+".dedup_log WHERE table = ?", table).Scan(&logged); err != nil {
		return nil, fmt.Errorf("reading %s.dedup_log (run `ioc migrate` first): %w", ch.Database, err)
	}
	var actions []string
	type done struct {
		p                 partState
		rowsAfter         uint64
		started, finished time.Time
	}
	var merged []done
	for _, p := range states {
		start, ok := monthStart(p.partition)
		if !ok || start.AddDate(0, 1, 0).After(watermark) || p.clean() {
			continue
		}
		stmt := fmt.Sprintf("OPTIMIZE TABLE %s.%s PARTITION %s FINAL", ch.Database, table, p.partition)
		actions = append(actions, stmt)
		if dryRun {
			continue
		}
		started := time.Now()
		log.Info("dedup: merging a closed month", "statement", stmt, "parts", p.parts, "rows", p.rows)
		// optimize_throw_if_noop: a merge the server declines is an error, not a silent no-op.
		if err := conn.Exec(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"optimize_throw_if_noop": 1})), stmt); err != nil {
			return actions, fmt.Errorf("dedup of partition %s of %s.%s: %w (retry later: a merge may be running; check free disk, the merge needs the partition's size again)", p.partition, ch.Database, table, err)
		}
		after, err := partitionStates(ctx, conn, ch.Database, table)
		if err != nil {
			return actions, err
		}
		var rows uint64
		for _, a := range after {
			if a.partition == p.partition {
				rows = a.rows
			}
		}
		merged = append(merged, done{p: p, rowsAfter: rows, started: started, finished: time.Now()})
	}
	if dryRun || (len(merged) == 0 && !logged.Before(watermark)) {
		return actions, nil
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".dedup_log (table, partition, closed_before, parts_before, rows_before, rows_after, started_at, done_at)")
	if err != nil {
		return actions, fmt.Errorf("recording the dedup in %s.dedup_log: %w", ch.Database, err)
	}
	defer b.Abort()
	if len(merged) == 0 {
		// Nothing to merge: only the watermark moves (a month with no reading).
		t := time.Now()
		merged = append(merged, done{started: t, finished: t})
	}
	for _, d := range merged {
		if err := b.Append(table, d.p.partition, watermark, d.p.parts, d.p.rows, d.rowsAfter, d.started, d.finished); err != nil {
			return actions, fmt.Errorf("recording the dedup in %s.dedup_log: %w", ch.Database, err)
		}
	}
	if err := b.Send(); err != nil {
		return actions, fmt.Errorf("recording the dedup in %s.dedup_log: %w", ch.Database, err)
	}
	log.Info("dedup: analyst view watermark", "closed_before", watermark, "merged", len(actions))
	return actions, nil
}

// partitionStates reads the active parts of a table per partition.
func partitionStates(ctx context.Context, conn driver.Conn, db, table string) ([]partState, error) {
	rows, err := conn.Query(ctx, "SELECT partition, toUInt64(count()), toUInt64(max(level)), toUInt64(sum(rows)) FROM system.parts WHERE database = ? AND table = ? AND active GROUP BY partition ORDER BY partition", db, table)
	if err != nil {
		return nil, fmt.Errorf("listing partitions of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	var out []partState
	for rows.Next() {
		var p partState
		if err := rows.Scan(&p.partition, &p.parts, &p.maxLevel, &p.rows); err != nil {
			return nil, fmt.Errorf("listing partitions of %s.%s: %w", db, table, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
