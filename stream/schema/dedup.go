package schema

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

// partState is what system.parts says of one partition.
type partState struct {
	partition string
	parts     uint64
	maxLevel  uint64
	rows      uint64
	// dirtyFrom is the oldest observed_at of the partition's dirty parts
	// (every part but the largest, and the largest too if it was never
	// merged), as the analyst view computes it (081_analyst_view_parts.sql).
	dirtyFrom time.Time
	dirty     uint64
}

// clean reports a partition that is exactly one merged part: a merge of a
// ReplacingMergeTree keeps one row per key, so it holds no duplicate.
func (p partState) clean() bool { return p.parts == 1 && p.maxLevel > 0 }

// Dedup merges every partition of sensor_readings_raw that is not exactly
// one merged part (OPTIMIZE TABLE ... PARTITION p FINAL), closed and open
// months alike, and records each merge in dedup_log with the analyst view's
// watermark after the run (closed_before: readings observed before it are
// read without grouping), which it also stores in analyst_watermark, the
// table the view reads it from (130_analyst_watermark.sql). Run it often
// (`ioc dedup`, every 10 minutes; `ioc retention` runs it too): between
// runs the view groups only what was inserted since, from its oldest
// observation time on (the writers lower the stored watermark before they
// insert: Lowerer; docs/clickhouse.md). It returns what it did (with
// dryRun, would do).
func Dedup(ctx context.Context, conn driver.Conn, ch chconn.Config, dryRun bool, log *slog.Logger) ([]string, error) {
	if ch.Cluster != "" {
		// The cluster keeps the FINAL view (081_analyst_view_parts.sql).
		return nil, nil
	}
	const table = "sensor_readings_raw"
	// Writers' rows in analyst_watermark set before t0 - WatermarkGrace are
	// for batches visible by t0, hence in the parts read below.
	t0, err := serverNow(ctx, conn)
	if err != nil {
		return nil, err
	}
	states, upTo, err := partitionStates(ctx, conn, ch.Database, table, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	var actions []string
	type done struct {
		p                 partState
		rowsAfter         uint64
		started, finished time.Time
	}
	var merged []done
	for _, p := range states {
		if p.clean() {
			continue
		}
		stmt := fmt.Sprintf("OPTIMIZE TABLE %s.%s PARTITION %s FINAL", ch.Database, table, p.partition)
		actions = append(actions, stmt)
		if dryRun {
			continue
		}
		started := time.Now()
		log.Info("dedup: merging a partition", "statement", stmt, "parts", p.parts, "rows", p.rows, "dirty_from", p.dirtyFrom)
		// optimize_throw_if_noop: a merge the server declines is an error, not a silent no-op.
		if err := conn.Exec(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"optimize_throw_if_noop": 1})), stmt); err != nil {
			return actions, fmt.Errorf("dedup of partition %s of %s.%s: %w (retry later: a merge may be running; check free disk, the merge needs the partition's size again)", p.partition, ch.Database, table, err)
		}
		merged = append(merged, done{p: p, started: started, finished: time.Now()})
	}
	if dryRun {
		return actions, nil
	}
	// The parts read above, as merged: a part inserted since (its first
	// block after upTo) is a settled writer's, whose readings are the only
	// copies of their keys, or an unsettled writer's, whose row of
	// analyst_watermark (younger than the grace) still covers it.
	after := states
	if len(merged) > 0 {
		if after, _, err = partitionStates(ctx, conn, ch.Database, table, upTo); err != nil {
			return actions, err
		}
	}
	watermark := viewWatermark(after)
	if err := setWatermark(ctx, conn, ch.Database, watermark, t0, log); err != nil {
		return actions, err
	}
	if len(merged) == 0 {
		return actions, nil
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".dedup_log (table, partition, closed_before, parts_before, rows_before, rows_after, started_at, done_at)")
	if err != nil {
		return actions, fmt.Errorf("recording the dedup in %s.dedup_log: %w", ch.Database, err)
	}
	defer b.Abort()
	for _, d := range merged {
		for _, a := range after {
			if a.partition == d.p.partition {
				d.rowsAfter = a.rows
			}
		}
		if err := b.Append(table, d.p.partition, watermark, d.p.parts, d.p.rows, d.rowsAfter, d.started, d.finished); err != nil {
			return actions, fmt.Errorf("recording the dedup in %s.dedup_log: %w", ch.Database, err)
		}
	}
	if err := b.Send(); err != nil {
		return actions, fmt.Errorf("recording the dedup in %s.dedup_log: %w", ch.Database, err)
	}
	log.Info("dedup: analyst view watermark", "grouped_from", watermark, "merged", len(actions))
	return actions, nil
}

// noWatermark is the view's watermark when no part is dirty (2106).
var noWatermark = time.Unix(4294967295, 0)

// viewWatermark is the oldest observation time the analyst view groups by
// the key: the lowest dirtyFrom of any partition.
func viewWatermark(states []partState) time.Time {
	w := noWatermark
	for _, p := range states {
		if p.dirty > 0 && p.dirtyFrom.Before(w) {
			w = p.dirtyFrom
		}
	}
	return w
}

//go:embed queries/*.sql
var dedupFS embed.FS

// dedupQueries are the queries of Dedup (not migrations: sql/ holds those).
var dedupQueries = sqltmpl.MustParse(dedupFS, nil, nil, "queries/*.sql")

// partitionStates reads the active parts of a table per partition, those
// whose first block is upTo or before, and the last block they hold.
func partitionStates(ctx context.Context, conn driver.Conn, db, table string, upTo uint64) ([]partState, uint64, error) {
	q, err := dedupQueries.Render("partition_states.sql", map[string]any{"UpTo": upTo})
	if err != nil {
		return nil, 0, err
	}
	rows, err := conn.Query(ctx, q, db, table)
	if err != nil {
		return nil, 0, fmt.Errorf("listing partitions of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	var out []partState
	var last uint64
	for rows.Next() {
		var partition, name string
		var level, n, maxBlock uint64
		var minTime uint32
		if err := rows.Scan(&partition, &name, &level, &n, &minTime, &maxBlock); err != nil {
			return nil, 0, fmt.Errorf("listing partitions of %s.%s: %w", db, table, err)
		}
		last = max(last, maxBlock)
		if len(out) == 0 || out[len(out)-1].partition != partition {
			// The first part of a partition is its largest: its base.
			out = append(out, partState{partition: partition})
			if level > 0 {
				out[len(out)-1].maxLevel = level
				out[len(out)-1].parts, out[len(out)-1].rows = 1, n
				continue
			}
		}
		p := &out[len(out)-1]
		p.parts++
		p.rows += n
		p.maxLevel = max(p.maxLevel, level)
		if t := time.Unix(int64(minTime), 0); p.dirty == 0 || t.Before(p.dirtyFrom) {
			p.dirtyFrom = t
		}
		p.dirty++
	}
	return out, last, rows.Err()
}
