// Package rollup keeps the hourly and daily sensor aggregates (the tables
// sensor_hourly_raw, sensor_daily_raw, ward_hourly_raw, ward_daily_raw of
// stream/schema/sql/100_rollups.sql) up to date.
//
// A materialized view over inserts would count a redelivered reading twice,
// since sensor_readings_raw collapses duplicates only when it merges. So a
// job computes each closed hour from the deduplicated raw rows (FINAL) and
// inserts the aggregates into ReplacingMergeTree tables versioned by
// computed_ms: computing an hour again replaces its rows. A watermark in
// rollup_state says which hours are done (done_through) and up to when
// raw inserts were seen (inserted_through); each run computes the hours
// closed since, then the done hours that received rows inserted since
// (late readings within the late window, redeliveries), and their days.
// On one server it finds those in the parts written since the last run
// (system.parts), so that a run reads what changed, not the late window.
package rollup

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

//go:embed sql/*.sql
var sqlFS embed.FS

// Config is the rollup job's configuration (stream.rollup).
type Config struct {
	// Enabled runs the job in the stream role (default true). Several
	// stream instances may all run it: computing an hour twice gives the
	// same rows, and the newest replaces the others.
	Enabled *bool `yaml:"enabled"`
	// Interval is how often the job looks for closed hours and late
	// readings (default 5m: each run reads the parts of the raw table
	// written since the last one to find late readings; in cluster mode,
	// the inserted_at column of the late window).
	Interval time.Duration `yaml:"interval"`
	// LateWindow is how far back late readings are looked for (default
	// ingest.max_past plus a day: 31 days).
	LateWindow time.Duration `yaml:"late_window"`
	// Backfill is how far back the first run starts when no rollups exist
	// (default 400 days, the raw retention).
	Backfill time.Duration `yaml:"backfill"`
	// InsertedMargin is how far before the last run's start raw inserts
	// are looked at again: a row's inserted_at is taken when its insert
	// starts, before the insert is visible (default 5m).
	InsertedMargin time.Duration `yaml:"inserted_margin"`
	// ChunkHours is the most hours one insert computes (default 24).
	ChunkHours int `yaml:"chunk_hours"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.Interval == 0 {
		c.Interval = 5 * time.Minute
	}
	if c.LateWindow == 0 {
		c.LateWindow = 31 * 24 * time.Hour
	}
	if c.Backfill == 0 {
		c.Backfill = 400 * 24 * time.Hour
	}
	if c.InsertedMargin == 0 {
		c.InsertedMargin = 5 * time.Minute
	}
	if c.ChunkHours == 0 {
		c.ChunkHours = 24
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Interval < time.Second:
		return fmt.Errorf("stream.rollup.interval: %s is below 1s", c.Interval)
	case c.LateWindow < time.Hour:
		return fmt.Errorf("stream.rollup.late_window: %s is below 1h (make it at least ingest.max_past)", c.LateWindow)
	case c.Backfill < time.Hour:
		return fmt.Errorf("stream.rollup.backfill: %s is below 1h", c.Backfill)
	case c.InsertedMargin < time.Second:
		return fmt.Errorf("stream.rollup.inserted_margin: %s is below 1s", c.InsertedMargin)
	case c.ChunkHours < 1 || c.ChunkHours > 24*31:
		return fmt.Errorf("stream.rollup.chunk_hours: %d is outside 1..744", c.ChunkHours)
	}
	return nil
}

// Job computes the rollups.
type Job struct {
	cfg Config
	ch  chconn.Config
	sql *sqltmpl.Set // sql/*.sql, parsed once
	log *slog.Logger
	m   *metrics
	// now is the clock of computed_ms (tests may set it).
	now func() time.Time
	// beforePartsRead, when set (tests), runs between the listing of the
	// parts written since the last run and their read.
	beforePartsRead func(ctx context.Context)
}

type metrics struct {
	runs   *prometheus.CounterVec
	hours  *prometheus.CounterVec
	behind prometheus.Gauge
}

// New prepares the job; reg may be nil.
func New(cfg Config, ch chconn.Config, log *slog.Logger, reg prometheus.Registerer) *Job {
	cfg.Defaults()
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_rollup_runs_total",
			Help: "Runs of the rollup job, by result (ok, error)."}, []string{"result"}),
		hours: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_rollup_hours_total",
			Help: "Hours computed by the rollup job, by why (closed: newly closed; late: computed again for late or redelivered readings; recomputed: asked by ioc rollup -recompute)."}, []string{"why"}),
		behind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_rollup_behind_seconds",
			Help: "Server time minus the rollups' watermark (done_through) after the last run: about an hour when up to date."}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.hours, m.behind)
	}
	j := &Job{cfg: cfg, ch: ch, log: log.With("component", "rollup"), m: m, now: time.Now}
	j.sql = sqltmpl.MustParse(sqlFS, &j.ch, nil, "sql/*.sql")
	return j
}

// Run computes the rollups every interval until ctx is cancelled. A failed
// run is logged and retried at the next interval.
func (j *Job) Run(ctx context.Context, conn driver.Conn) error {
	for {
		wait := j.cfg.Interval
		res, err := j.Once(ctx, conn)
		if err != nil && ctx.Err() == nil {
			j.log.Warn("computing rollups failed; retrying at the next interval", "err", err, "interval", j.cfg.Interval)
		}
		if err == nil && res.Empty {
			wait = min(wait, emptyRetry)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Result is what a run did.
type Result struct {
	Closed, Late int       // hours computed: newly closed, and again for late readings
	DoneThrough  time.Time // every hour before it is computed
	Empty        bool      // no readings and no watermark yet: nothing done
}

// emptyRetry is how soon the job looks again while there is nothing to
// roll up, so that the first readings are rolled up soon after they land.
const emptyRetry = 15 * time.Second

// hourRange is [from, to) in Unix seconds, whole hours or days.
type hourRange struct{ from, to int64 }

// Once runs the job once.
func (j *Job) Once(ctx context.Context, conn driver.Conn) (Result, error) {
	res, err := j.once(ctx, conn)
	if err != nil {
		j.m.runs.WithLabelValues("error").Inc()
		return res, err
	}
	j.m.runs.WithLabelValues("ok").Inc()
	j.m.hours.WithLabelValues("closed").Add(float64(res.Closed))
	j.m.hours.WithLabelValues("late").Add(float64(res.Late))
	return res, nil
}

func (j *Job) once(ctx context.Context, conn driver.Conn) (Result, error) {
	if j.ch.Cluster != "" {
		// The inserts go through Distributed tables and the next step reads
		// what the previous one wrote: wait for the shards to have it.
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	}
	var serverNow uint32
	if err := conn.QueryRow(ctx, "SELECT toUInt32(now())").Scan(&serverNow); err != nil {
		return Result{}, fmt.Errorf("reading clickhouse's clock: %w", err)
	}
	now := int64(serverNow)
	closed := now - now%3600
	var done, insertedThrough uint32
	var states uint64
	if err := j.queryRow(ctx, conn, "state.sql", nil, &done, &insertedThrough, &states); err != nil {
		return Result{}, fmt.Errorf("reading the rollup watermark from %s (run `ioc migrate`): %w", j.ch.Table("rollup_state"), err)
	}
	res := Result{}
	doneThrough := int64(done)
	if states == 0 {
		since := now - int64(j.cfg.Backfill.Seconds())
		var first uint32
		var n uint64
		if err := j.queryRow(ctx, conn, "first.sql", map[string]any{"Since": since}, &first, &n); err != nil {
			return res, fmt.Errorf("finding the oldest reading to roll up: %w", err)
		}
		if n == 0 {
			// Nothing to roll up yet: no watermark either, so that the
			// first readings (a backfill still being stored) start it.
			res.Empty = true
			return res, nil
		}
		doneThrough = min(int64(first)-int64(first)%3600, closed)
		j.log.Info("rollups start", "from", time.Unix(doneThrough, 0).In(event.Location))
	} else {
		// Hours that received rows since the last run: computed again.
		late, err := j.touched(ctx, conn, now-int64(j.cfg.LateWindow.Seconds()), doneThrough,
			int64(insertedThrough)-int64(j.cfg.InsertedMargin.Seconds()))
		if err != nil {
			return res, err
		}
		if err := j.compute(ctx, conn, hourRuns(late, j.cfg.ChunkHours)); err != nil {
			return res, err
		}
		res.Late = len(late)
		if len(late) > 0 {
			j.log.Info("rollups computed again for late readings", "hours", len(late))
		}
	}
	// The newly closed hours, a chunk at a time, the watermark after each.
	for from := doneThrough; from < closed; {
		to := min(from+int64(j.cfg.ChunkHours)*3600, closed)
		if err := j.compute(ctx, conn, []hourRange{{from, to}}); err != nil {
			return res, err
		}
		res.Closed += int((to - from) / 3600)
		if err := j.saveState(ctx, conn, to, now); err != nil {
			return res, err
		}
		from, doneThrough = to, to
	}
	if res.Closed == 0 {
		if err := j.saveState(ctx, conn, doneThrough, now); err != nil {
			return res, err
		}
	}
	res.DoneThrough = time.Unix(doneThrough, 0).In(event.Location)
	j.m.behind.Set(float64(now - doneThrough))
	return res, nil
}

// maxFreshParts is the most parts touched reads by name; beyond (a
// backlog of unmerged inserts) it reads the late window.
const maxFreshParts = 1000

// touched finds the hours of [since, done) with rows inserted since
// insertedSince. On one server it reads only the parts of
// sensor_readings_raw written since insertedSince (those rows' parts, or
// parts a merge made of them): what changed since the last run, not the
// whole late window. If a merge replaced one of those parts while the
// query ran, it asks again (then reads the window). In cluster mode the
// table is read through its Distributed table over the late window.
func (j *Job) touched(ctx context.Context, conn driver.Conn, since, done, insertedSince int64) ([]int64, error) {
	vars := map[string]any{"Since": since, "Done": done, "InsertedSince": insertedSince, "Parts": []string(nil)}
	if j.ch.Cluster == "" {
		where := map[string]any{"DB": j.ch.Database, "Table": "sensor_readings_raw", "Since": insertedSince}
		for range 3 {
			parts, err := j.strings(ctx, conn, "fresh_parts.sql", where)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				// Not fatal: the window holds the same hours.
				j.log.Warn("listing the parts of sensor_readings_raw failed: reading the late window (grant SELECT on system.parts)",
					"err", err)
				break
			}
			if len(parts) == 0 {
				return nil, nil // nothing inserted since
			}
			if len(parts) > maxFreshParts {
				j.log.Info("many parts written since the last run: reading the late window", "parts", len(parts))
				break
			}
			vars["Parts"] = parts
			if j.beforePartsRead != nil {
				j.beforePartsRead(ctx)
			}
			hours, err := j.hours(ctx, conn, vars)
			if err != nil {
				return nil, err
			}
			var active uint64
			where["Parts"] = parts
			if err := j.queryRow(ctx, conn, "parts_active.sql", where, &active); err != nil {
				return nil, fmt.Errorf("checking that the parts read for late readings are still there: %w", err)
			}
			if active == uint64(len(parts)) {
				// Every part was there when the query started (a part
				// never becomes active again): it read them all.
				return hours, nil
			}
			delete(where, "Parts")
		}
		vars["Parts"] = []string(nil)
	}
	return j.hours(ctx, conn, vars)
}

// hours runs touched.sql.
func (j *Job) hours(ctx context.Context, conn driver.Conn, vars map[string]any) ([]int64, error) {
	q, err := j.query("touched.sql", vars)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("finding hours with late readings: %w", err)
	}
	defer rows.Close()
	var late []int64
	for rows.Next() {
		var h uint32
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("finding hours with late readings: %w", err)
		}
		late = append(late, int64(h))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding hours with late readings: %w", err)
	}
	return late, nil
}

// strings runs sql/name and returns its one String column.
func (j *Job) strings(ctx context.Context, conn driver.Conn, name string, vars map[string]any) ([]string, error) {
	q, err := j.query(name, vars)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Recompute computes again every hour of [from, to) that is already
// rolled up (before the watermark), with its wards and days: after rows
// reached sensor_readings_raw late without a fresh inserted_at (a shard
// of a cluster down longer than inserted_margin, rows restored from a
// backup). It returns the hours computed.
func (j *Job) Recompute(ctx context.Context, conn driver.Conn, from, to time.Time) (int, error) {
	if j.ch.Cluster != "" {
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1}))
	}
	var done, insertedThrough uint32
	var states uint64
	if err := j.queryRow(ctx, conn, "state.sql", nil, &done, &insertedThrough, &states); err != nil {
		return 0, fmt.Errorf("reading the rollup watermark: %w", err)
	}
	start, end := from.Unix()-from.Unix()%3600, min(to.Unix(), int64(done))
	if states == 0 || start >= end {
		return 0, nil
	}
	var hours []int64
	for h := start; h < end; h += 3600 {
		hours = append(hours, h)
	}
	if err := j.compute(ctx, conn, hourRuns(hours, j.cfg.ChunkHours)); err != nil {
		return 0, err
	}
	j.m.hours.WithLabelValues("recomputed").Add(float64(len(hours)))
	return len(hours), nil
}

// compute computes the hours of runs, then their wards and days.
func (j *Job) compute(ctx context.Context, conn driver.Conn, runs []hourRange) error {
	if len(runs) == 0 {
		return nil
	}
	computed := j.now().UnixMilli()
	exec := func(file string, r hourRange) error {
		q, err := j.query(file, map[string]any{"From": r.from, "To": r.to, "ComputedMs": computed})
		if err != nil {
			return err
		}
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("computing rollups (%s) for %s to %s: %w", strings.TrimSuffix(file, ".sql"),
				time.Unix(r.from, 0).In(event.Location).Format(time.DateTime), time.Unix(r.to, 0).In(event.Location).Format(time.DateTime), err)
		}
		return nil
	}
	for _, r := range runs {
		if err := exec("device_hourly.sql", r); err != nil {
			return err
		}
		if err := exec("ward_hourly.sql", r); err != nil {
			return err
		}
	}
	for _, d := range dayRuns(runs) {
		if err := exec("device_daily.sql", d); err != nil {
			return err
		}
		if err := exec("ward_daily.sql", d); err != nil {
			return err
		}
	}
	return nil
}

// saveState records the watermark.
func (j *Job) saveState(ctx context.Context, conn driver.Conn, doneThrough, insertedThrough int64) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+j.ch.Table("rollup_state")+" (name, done_through, inserted_through, updated_ms)")
	if err != nil {
		return fmt.Errorf("saving the rollup watermark: %w", err)
	}
	defer b.Abort()
	if err := b.Append(stateName, time.Unix(doneThrough, 0), time.Unix(insertedThrough, 0), j.now().UnixMilli()); err != nil {
		return fmt.Errorf("saving the rollup watermark: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("saving the rollup watermark: %w", err)
	}
	return nil
}

const stateName = "sensor"

// query renders one of sql/*.sql (internal/sqltmpl) with the pipeline's
// table names and vars.
func (j *Job) query(name string, vars map[string]any) (string, error) {
	data := map[string]any{"Name": stateName}
	for k, v := range vars {
		data[k] = v
	}
	return j.sql.Render(name, data)
}

// queryRow renders sql/name with vars and scans its one row into dest.
func (j *Job) queryRow(ctx context.Context, conn driver.Conn, name string, vars map[string]any, dest ...any) error {
	q, err := j.query(name, vars)
	if err != nil {
		return err
	}
	return conn.QueryRow(ctx, q).Scan(dest...)
}

// hourRuns turns hour starts (Unix seconds) into ranges of consecutive
// hours, each at most chunk hours long.
func hourRuns(hours []int64, chunk int) []hourRange {
	hs := slices.Clone(hours)
	slices.Sort(hs)
	hs = slices.Compact(hs)
	var out []hourRange
	for _, h := range hs {
		if n := len(out); n > 0 && out[n-1].to == h && (out[n-1].to-out[n-1].from)/3600 < int64(chunk) {
			out[n-1].to = h + 3600
			continue
		}
		out = append(out, hourRange{h, h + 3600})
	}
	return out
}

// dayRuns gives the Son La days that the hour ranges touch, merged.
func dayRuns(runs []hourRange) []hourRange {
	var days []hourRange
	for _, r := range runs {
		from := startOfDay(r.from)
		to := startOfDay(r.to - 1)
		to = time.Unix(to, 0).In(event.Location).AddDate(0, 0, 1).Unix()
		days = append(days, hourRange{from, to})
	}
	slices.SortFunc(days, func(a, b hourRange) int { return int(a.from - b.from) })
	var out []hourRange
	for _, d := range days {
		if n := len(out); n > 0 && d.from <= out[n-1].to {
			out[n-1].to = max(out[n-1].to, d.to)
			continue
		}
		out = append(out, d)
	}
	return out
}

func startOfDay(unix int64) int64 {
	t := time.Unix(unix, 0).In(event.Location)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, event.Location).Unix()
}
