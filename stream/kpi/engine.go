// Package kpi computes the leadership's KPI tiles from the administrative
// events in ClickHouse, with the SQL of sql/<tile id>.sql (documented
// verbatim in docs/kpis.md), and publishes every tile that changed to the
// compacted topic ioc.kpi.tiles.v1, where the dashboard reads them.
//
// Tiles are a pure function of the deduplicated events: a replay, a
// duplicate or a restart cannot change them, and a late event changes them
// exactly as the SQL says (a closed month that changes is flagged as
// restated). They are "as of" the newest event time of the feeds, so the
// same events always give the same tiles.
package kpi

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

//go:embed sql/*.sql
var sqlFS embed.FS

// SQL returns the embedded text of a query file (for docs and tests).
func SQL(name string) (string, error) {
	b, err := sqlFS.ReadFile("sql/" + name)
	return string(b), err
}

// Config is the KPI engine's configuration (section feeds.kpi).
type Config struct {
	// Debounce is the least time between two computations: events
	// arriving meanwhile are taken by the next one.
	Debounce time.Duration `yaml:"debounce"`
	// Interval recomputes even without new events (a restart of ClickHouse,
	// a clock that moved).
	Interval time.Duration `yaml:"interval"`
	// Parallel is how many tile queries run at once.
	Parallel int `yaml:"parallel"`
	// Settle is how long the feeds must have been quiet (no new events)
	// for the tiles to count as shown: the tiles of that moment are the
	// baseline against which the next events are judged, and a closed month
	// that then changes is a restatement. While a feed is being loaded (a
	// backfill, a replay in shuffled order) batches follow each other
	// closely and the months filling in are not restatements.
	Settle time.Duration `yaml:"settle"`
	// Index holds the settings of the service index of Decision
	// 766/QĐ-TTg, whose city total and groups are tiles (index.go).
	Index svcindex.Config `yaml:"index"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Debounce == 0 {
		c.Debounce = 250 * time.Millisecond
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	if c.Parallel == 0 {
		c.Parallel = 4
	}
	if c.Settle == 0 {
		c.Settle = 10 * time.Second
	}
	c.Index.Defaults()
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Debounce < 0 || c.Debounce > time.Second:
		return fmt.Errorf("feeds.kpi.debounce: %s is outside 0..1s (tiles must move within 2 s of an event)", c.Debounce)
	case c.Interval < time.Second:
		return fmt.Errorf("feeds.kpi.interval: %s is below 1s", c.Interval)
	case c.Parallel < 1 || c.Parallel > 16:
		return fmt.Errorf("feeds.kpi.parallel: %d is outside 1..16", c.Parallel)
	case c.Settle < 0:
		return fmt.Errorf("feeds.kpi.settle: %s must not be negative", c.Settle)
	}
	return c.Index.Validate()
}

// NearDue is the window of the dossiers.near_due tile.
const NearDue = 24 * time.Hour

// Params are the values the tile SQL is rendered with (docs/kpis.md).
type Params struct {
	DB       string
	Now      int64 // wall clock, ms (watermark only)
	AsOf     int64 // ms
	From     int64 // 1 January of as_of's year, 00:00 city time, ms
	PrevFrom int64 // the same a year before
	Year     int
	// Points are the ends of the months of the period before as_of's
	// month, then as_of; PrevPoints are the same times a year before.
	Points, PrevPoints string
	NearDue            int64
	points             []int64
}

// NewParams computes the parameters of a computation as of a time.
func NewParams(db string, asOf time.Time) Params {
	asOf = asOf.In(event.Location)
	year := asOf.Year()
	from := time.Date(year, 1, 1, 0, 0, 0, 0, event.Location)
	p := Params{DB: db, Now: time.Now().UnixMilli(), AsOf: asOf.UnixMilli(), From: from.UnixMilli(),
		PrevFrom: from.AddDate(-1, 0, 0).UnixMilli(), Year: year, NearDue: NearDue.Milliseconds()}
	var pts, prev []int64
	for m := time.January; m < asOf.Month(); m++ {
		end := time.Date(year, m+1, 1, 0, 0, 0, 0, event.Location).UnixMilli() - 1
		pts = append(pts, end)
		prev = append(prev, time.Date(year-1, m+1, 1, 0, 0, 0, 0, event.Location).UnixMilli()-1)
	}
	pts = append(pts, p.AsOf)
	prev = append(prev, YearBefore(asOf).UnixMilli())
	p.points = pts
	p.Points, p.PrevPoints = array(pts), array(prev)
	return p
}

// YearBefore is the same calendar time a year before t (city time). A
// day that year lacks (29 February) becomes the last day of the same month
// at the same time of day: the year before 29 February 2024 10:00 is 28
// February 2023 10:00, never 1 March.
func YearBefore(t time.Time) time.Time {
	t = t.In(event.Location)
	y, m, d := t.Date()
	if last := time.Date(y-1, m+1, 0, 0, 0, 0, 0, event.Location).Day(); d > last {
		d = last
	}
	return time.Date(y-1, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), event.Location)
}

func array(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// Engine computes and publishes the tiles.
type Engine struct {
	cfg   Config
	kafka kafkaconn.Config
	ch    chconn.Config
	log   *slog.Logger
	m     *metrics
	tmpl  *sqltmpl.Set
	ready atomic.Bool

	mu        sync.Mutex
	published map[string]event.Tile
	// baseline is what was published when the feeds were last quiet for
	// Settle; restatements are judged against it (Restate).
	baseline     map[string]event.Tile
	lastProduced int64 // newest Kafka produce time of the events written (ms)
	// changed are the kinds written since the last computation; computed
	// and lastAsOf are what it gave, to recompute only what they touch.
	changed  map[event.AdminKind]bool
	computed map[string]event.Tile
	lastAsOf int64
	// lastStart is when the last successful computation started (unix ms):
	// it saw every event committed before then.
	lastStart atomic.Int64

	// The drill-down queries (drill.go), parsed on first use.
	drillOnce sync.Once
	drillTmpl *sqltmpl.Set
	drillErr  error
}

// LastComputed is when the last successful computation started: every
// event written to ClickHouse before then is in the published tiles.
func (e *Engine) LastComputed() time.Time { return time.UnixMilli(e.lastStart.Load()) }

// NewEngine parses the embedded SQL. Its log lines add sub=kpi to the
// component of log (feeds, or kpi when run alone).
func NewEngine(cfg Config, kc kafkaconn.Config, ch chconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := sqltmpl.Parse(sqlFS, &ch, nil, "sql/*.sql")
	if err != nil {
		return nil, fmt.Errorf("parsing the KPI queries: %w", err)
	}
	for _, d := range Defs {
		if d.External {
			continue
		}
		if !tmpl.Has(d.Query + ".sql") {
			return nil, fmt.Errorf("tile %s: no sql/%s.sql", d.ID, d.Query)
		}
		if d.Breakdown != nil && !tmpl.Has(d.ID+".breakdown.sql") {
			return nil, fmt.Errorf("tile %s: no sql/%s.breakdown.sql", d.ID, d.ID)
		}
	}
	return &Engine{cfg: cfg, kafka: kc, ch: ch, log: log.With("sub", "kpi"), m: newMetrics(reg), tmpl: tmpl,
		published: map[string]event.Tile{}}, nil
}

// Ready reports whether the engine has loaded what it published before and
// is computing.
func (e *Engine) Ready() bool { return e.ready.Load() }

// Render renders one query file with the parameters.
func (e *Engine) Render(file string, p Params) (string, error) {
	return e.tmpl.Render(file, p)
}

// Watermark returns as_of: the newest event time of the feeds not past
// now; false when there are no administrative events yet.
func (e *Engine) Watermark(ctx context.Context, conn driver.Conn, now time.Time) (time.Time, bool, error) {
	p := Params{DB: e.ch.Database, Now: now.UnixMilli()}
	q, err := e.Render("watermark.sql", p)
	if err != nil {
		return time.Time{}, false, err
	}
	var ms int64
	if err := conn.QueryRow(ctx, q).Scan(&ms); err != nil {
		return time.Time{}, false, fmt.Errorf("reading the feeds' watermark: %w", err)
	}
	if ms <= 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms).In(event.Location), true, nil
}

// row is one point of a tile as its query returns it.
type row struct {
	tile        string
	point       int64
	numerator   float64
	denominator *float64
	value       *float64
	target      *float64
}

// Queries lists the query files in the order of the tiles.
func Queries() []string {
	var out []string
	for _, d := range Defs {
		if !d.External && !slices.Contains(out, d.Query) {
			out = append(out, d.Query)
		}
	}
	return out
}

// Flushed tells the engine, before they are written to ClickHouse, that
// events of these kinds produced to Kafka between firstMs and lastMs are
// coming: the next computation redoes the tiles that read them. When the
// first of them was produced at least Settle after the newest event of the
// batches before, the feeds had been quiet: the tiles as published until
// now (none has seen these events) become the baseline of restatements.
// Kafka's produce times count, not the arrival here, so that a slow
// insert or a replay of old records is not taken for a quiet spell.
func (e *Engine) Flushed(kinds []event.AdminKind, firstMs, lastMs int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.changed == nil {
		e.changed = map[event.AdminKind]bool{}
	}
	for _, k := range kinds {
		e.changed[k] = true
	}
	if firstMs-e.lastProduced >= e.cfg.Settle.Milliseconds() || e.baseline == nil {
		// Called before the events are written: nothing published yet
		// has seen them.
		e.baseline = maps.Clone(e.published)
		e.log.Debug("the feeds were quiet: a new burst of events", "quiet_for", time.Duration(firstMs-e.lastProduced)*time.Millisecond)
	}
	e.lastProduced = max(e.lastProduced, lastMs)
}

// redo marks kinds to compute again (after a failed computation).
func (e *Engine) redo(kinds map[event.AdminKind]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.changed == nil {
		e.changed = map[event.AdminKind]bool{}
	}
	for k := range kinds {
		e.changed[k] = true
	}
}

// Compute computes every tile as of a time.
func (e *Engine) Compute(ctx context.Context, conn driver.Conn, asOf time.Time) ([]event.Tile, error) {
	return e.compute(ctx, conn, asOf, nil, nil)
}

// compute computes the tiles as of a time. With only set, a query whose
// tiles read none of those kinds is not run: its tiles come from the last
// computation.
//
// With later set, a tile it selects that was computed before is left for a
// later pass (its last value is returned): publish computes the SQL tiles
// first and the slower service index tiles after them, so that a new event
// moves the SQL tiles as fast as before.
func (e *Engine) compute(ctx context.Context, conn driver.Conn, asOf time.Time, only map[event.AdminKind]bool, later func(Def) bool) ([]event.Tile, error) {
	p := NewParams(e.ch.Database, asOf)
	var mu sync.Mutex
	rows := map[string][]row{} // by tile
	run := map[string]bool{}
	var queries []string
	e.mu.Lock()
	for _, d := range Defs {
		_, have := e.computed[d.ID]
		if only != nil && have && !slices.ContainsFunc(d.Kinds, func(k event.AdminKind) bool { return only[k] }) {
			continue
		}
		if later != nil && have && later(d) {
			continue
		}
		if !run[d.Query] {
			run[d.Query] = true
			queries = append(queries, d.Query)
		}
	}
	e.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.Parallel)
	for _, q := range queries {
		g.Go(func() error {
			rs, err := e.rows(gctx, conn, q, p)
			if err != nil {
				return err
			}
			mu.Lock()
			for _, r := range rs {
				rows[r.tile] = append(rows[r.tile], r)
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	tiles := make([]event.Tile, len(Defs))
	for i, d := range Defs {
		if !run[d.Query] {
			e.mu.Lock()
			tiles[i] = e.computed[d.ID]
			e.mu.Unlock()
			continue
		}
		t, err := e.tile(ctx, conn, d, p, rows[d.ID])
		if err != nil {
			return nil, fmt.Errorf("tile %s: %w", d.ID, err)
		}
		t.Order = i + 1
		tiles[i] = t
	}
	return tiles, nil
}

func (e *Engine) tile(ctx context.Context, conn driver.Conn, d Def, p Params, rows []row) (event.Tile, error) {
	asOf := time.UnixMilli(p.AsOf).In(event.Location)
	t := event.Tile{
		ID: d.ID, Group: d.Group, LabelVI: d.LabelVI, LabelEN: d.LabelEN, Unit: string(d.Shape),
		Period: event.Period{Label: strconv.Itoa(p.Year), From: time.UnixMilli(p.From).In(event.Location).Format(time.DateOnly),
			To: asOf.Format(time.DateOnly)},
		AsOf: asOf.Format(time.RFC3339), AsOfMs: p.AsOf,
	}
	byPoint := map[int64]row{}
	for _, r := range rows {
		byPoint[r.point] = r
	}
	for _, ms := range p.points {
		r, ok := byPoint[ms]
		if !ok { // no rows at all at this point
			r = row{point: ms}
			if d.Shape == Count {
				zero := 0.0
				r.value = &zero
			}
		}
		t.Series = append(t.Series, event.Point{At: time.UnixMilli(ms).In(event.Location).Format(time.DateOnly), Ms: ms,
			Value: r.value, Numerator: r.numerator, Denominator: r.denominator})
		if ms == p.AsOf {
			t.Value, t.Numerator, t.Denominator, t.Target = r.value, r.numerator, r.denominator, r.target
		}
	}
	if t.Target == nil && d.Target != nil {
		// A point without rows has no target row either: the target is
		// part of the tile's definition (the same constant as its SQL's).
		v := *d.Target
		t.Target = &v
	}
	if d.Breakdown != nil {
		parts, err := e.breakdown(ctx, conn, d, p)
		if err != nil {
			return event.Tile{}, err
		}
		t.Breakdown = parts
	}
	return t, nil
}

func (e *Engine) query(ctx context.Context, conn driver.Conn, file string, p Params) ([]row, error) {
	q, err := e.Render(file, p)
	if err != nil {
		return nil, err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", file, err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.tile, &r.point, &r.numerator, &r.denominator, &r.value, &r.target); err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func (e *Engine) breakdown(ctx context.Context, conn driver.Conn, d Def, p Params) ([]event.Part, error) {
	file := d.ID + ".breakdown.sql"
	q, err := e.Render(file, p)
	if err != nil {
		return nil, err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", file, err)
	}
	defer rs.Close()
	got := map[string]float64{}
	for rs.Next() {
		var k string
		var v float64
		if err := rs.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		got[k] = v
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	// Every known key appears (with 0 if it has nothing), then unknown ones.
	var parts []event.Part
	for k, l := range d.Breakdown {
		parts = append(parts, event.Part{Key: k, LabelVI: l[0], LabelEN: l[1], Value: got[k]})
		delete(got, k)
	}
	for k, v := range got {
		parts = append(parts, event.Part{Key: k, LabelVI: k, LabelEN: k, Value: v})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Key < parts[j].Key })
	return parts, nil
}

// Published returns the tiles as last published, in page order.
func (e *Engine) Published() []event.Tile {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]event.Tile, 0, len(e.published))
	for _, t := range e.published {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out
}

// Run computes and publishes at start, after every notification (at most
// once per Debounce) and every Interval, until ctx ends or notify is
// closed; a closed notify gets one last computation.
func (e *Engine) Run(ctx context.Context, conn driver.Conn, notify <-chan struct{}) error {
	if err := backoff.Retry(ctx, e.log, "creating the KPI tiles topic", func() error {
		if err := e.kafka.EnsureCompactedTopic(ctx, event.TopicKPITiles); err != nil {
			return err
		}
		return e.kafka.WaitForLeaders(ctx, event.TopicKPITiles)
	}); err != nil {
		return nil // shutting down
	}
	if err := backoff.Retry(ctx, e.log, "reading the published KPI tiles", func() error { return e.load(ctx) }); err != nil {
		return nil
	}
	writer := e.kafka.NewWriter(kafkaconn.WriterOptions{Topic: event.TopicKPITiles, Linger: 2 * time.Millisecond})
	e.kafka.LimitMetadata(writer, event.TopicKPITiles)
	defer writer.Close()
	e.ready.Store(true)
	defer e.ready.Store(false)

	tick := time.NewTicker(e.cfg.Interval)
	defer tick.Stop()
	dirty, closing, full := true, false, true
	var last time.Time
	var retry <-chan time.Time
	for {
		if dirty {
			if wait := e.cfg.Debounce - time.Since(last); wait > 0 && !closing {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return nil
				}
			}
			// Wake-ups that came meanwhile are covered by this computation.
			select {
			case _, ok := <-notify:
				closing = closing || !ok
			default:
			}
			last, dirty, retry = time.Now(), false, nil
			if err := e.publish(ctx, conn, writer, full); err != nil {
				e.log.Warn("computing KPI tiles failed; retrying in 2s", "err", err)
				retry = time.After(2 * time.Second)
			} else {
				full = false
			}
			if closing {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-notify:
			dirty = true
			if !ok {
				closing, notify = true, nil
			}
		case <-tick.C:
			dirty, full = true, true
		case <-retry:
			dirty, full = true, true
		}
	}
}

// load reads what was published before (the compacted topic), so that
// restatements are detected across restarts and unchanged tiles are not
// published again.
func (e *Engine) load(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got := map[string]event.Tile{}
	done := make(chan struct{})
	err := e.kafka.FollowCompacted(lctx, event.TopicKPITiles, func() { close(done); cancel() }, func(m kafka.Message) {
		var t event.Tile
		if len(m.Value) == 0 {
			delete(got, string(m.Key))
		} else if err := event.UnmarshalTile(m.Value, &t); err == nil {
			got[string(m.Key)] = t
		}
	})
	select {
	case <-done:
	default:
		if err == nil {
			err = errors.New("stopped before reading to the end")
		}
		return fmt.Errorf("reading %s: %w", e.kafka.Topic(event.TopicKPITiles), err)
	}
	e.mu.Lock()
	e.published = got
	e.mu.Unlock()
	e.log.Info("KPI tiles loaded from kafka", "tiles", len(got))
	return nil
}

// publish computes the tiles and writes those that changed; full
// recomputes every tile.
func (e *Engine) publish(ctx context.Context, conn driver.Conn, w *kafka.Writer, full bool) error {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	asOf, ok, err := e.Watermark(cctx, conn, start)
	if err != nil {
		e.m.computations.WithLabelValues("error").Inc()
		return err
	}
	if !ok {
		e.m.computations.WithLabelValues("no_data").Inc()
		return nil // no administrative events yet
	}
	// Only the tiles that read the kinds just written need computing,
	// unless as_of moved (every tile's period and points move with it) or
	// this is a full pass (start, timer, retry).
	e.mu.Lock()
	written := e.changed
	e.changed = nil

	var only map[event.AdminKind]bool
	if !full && asOf.UnixMilli() == e.lastAsOf && e.computed != nil {
		only = written
		if only == nil {
			only = map[event.AdminKind]bool{}
		}
	}
	e.mu.Unlock()
	// Two passes: the SQL tiles, then the service index tiles (External),
	// each published as soon as it is computed.
	for _, later := range []func(Def) bool{func(d Def) bool { return d.External }, func(d Def) bool { return !d.External }} {
		if err := e.publishPass(ctx, cctx, conn, w, asOf, only, later, start); err != nil {
			e.redo(written) // next time
			return err
		}
	}
	e.lastStart.Store(start.UnixMilli())
	return nil
}

// publishPass computes the tiles not left for later and publishes those
// that changed.
func (e *Engine) publishPass(ctx, cctx context.Context, conn driver.Conn, w *kafka.Writer, asOf time.Time, only map[event.AdminKind]bool,
	later func(Def) bool, start time.Time) error {
	tiles, err := e.compute(cctx, conn, asOf, only, later)
	if err != nil {
		e.m.computations.WithLabelValues("error").Inc()
		return err
	}
	e.mu.Lock()
	e.lastAsOf = asOf.UnixMilli()
	if e.computed == nil {
		e.computed = map[string]event.Tile{}
	}
	for _, t := range tiles {
		e.computed[t.ID] = t
	}
	e.mu.Unlock()
	e.m.computeSeconds.Observe(time.Since(start).Seconds())
	e.m.computations.WithLabelValues("ok").Inc()
	e.log.Debug("KPI tiles computed", "as_of", asOf.Format(time.RFC3339), "only", slices.Collect(maps.Keys(only)), "full", only == nil,
		"took", time.Since(start).Round(time.Millisecond))
	e.m.asOf.Set(float64(asOf.Unix()))
	now := time.Now().UnixMilli()
	var msgs []kafka.Message
	var changed []event.Tile
	e.mu.Lock()
	for i := range tiles {
		t := &tiles[i]
		t.ComputedMs = now
		old, had := e.published[t.ID]
		var base, prev *event.Tile
		if b, ok := e.baseline[t.ID]; ok {
			base = &b
		}
		if had {
			prev = &old
		}
		Restate(base, prev, t, now)
		if had && same(&old, t) {
			continue
		}
		if t.Restated != nil && (!had || old.Restated == nil || old.Restated.AtMs != t.Restated.AtMs) {
			e.m.restatements.Inc()
			e.log.Info("KPI restated: events arrived late for a closed month", "tile", t.ID, "months", t.Restated.Months)
		}
		b, err := event.MarshalTile(t)
		if err != nil {
			e.mu.Unlock()
			return err
		}
		msgs = append(msgs, kafka.Message{Key: []byte(t.ID), Value: b})
		changed = append(changed, *t)
	}
	e.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer wcancel()
	if err := w.WriteMessages(wctx, msgs...); err != nil {
		return fmt.Errorf("publishing %d KPI tiles: %w", len(msgs), err)
	}
	e.mu.Lock()
	for _, t := range changed {
		e.published[t.ID] = t
	}
	e.mu.Unlock()
	e.m.published.Add(float64(len(msgs)))
	return nil
}

// Restate says on a new tile whether it restates the baseline: the tile
// as published when the feeds were last quiet (nil: nothing was shown yet).
// If a point of a month that had already closed (before as_of's month)
// differs from the baseline, the tile carries the changed months, when,
// and the baseline's value and points; otherwise it keeps the baseline's
// restatement, if any. prev is the tile as last published: a restatement
// it already carries keeps its time.
func Restate(base, prev, cur *event.Tile, nowMs int64) {
	cur.Restated = nil
	if base == nil || base.Period.Label != cur.Period.Label {
		return
	}
	asOf := time.UnixMilli(cur.AsOfMs).In(event.Location)
	monthStart := time.Date(asOf.Year(), asOf.Month(), 1, 0, 0, 0, 0, event.Location).UnixMilli()
	before := map[int64]event.Point{}
	for _, p := range base.Series {
		before[p.Ms] = p
	}
	r := &event.Restatement{AtMs: nowMs, PreviousValue: base.Value}
	for _, p := range cur.Series {
		o, ok := before[p.Ms]
		if p.Ms >= monthStart || !ok || samePoint(o, p) {
			continue
		}
		r.Months = append(r.Months, p.At[:7])
		r.Previous = append(r.Previous, o)
	}
	switch {
	case len(r.Months) == 0:
		cur.Restated = base.Restated
	case prev != nil && prev.Restated != nil && sameRestatement(prev.Restated, r):
		cur.Restated = prev.Restated
	default:
		cur.Restated = r
	}
}

func sameRestatement(a, b *event.Restatement) bool {
	if !slices.Equal(a.Months, b.Months) || !sameNum(a.PreviousValue, b.PreviousValue) || len(a.Previous) != len(b.Previous) {
		return false
	}
	for i := range a.Previous {
		if !samePoint(a.Previous[i], b.Previous[i]) {
			return false
		}
	}
	return true
}

func samePoint(a, b event.Point) bool {
	return a.Numerator == b.Numerator && sameNum(a.Denominator, b.Denominator) && sameNum(a.Value, b.Value)
}

func sameNum(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) <= 1e-9*math.Max(1, math.Abs(*a))
}

// same reports whether two tiles show the same (the computation time aside).
func same(a, b *event.Tile) bool {
	x, y := *a, *b
	x.ComputedMs, y.ComputedMs = 0, 0
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(bx, by)
}

type metrics struct {
	computations   *prometheus.CounterVec
	computeSeconds prometheus.Histogram
	published      prometheus.Counter
	restatements   prometheus.Counter
	asOf           prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		computations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_kpi_computations_total",
			Help: "KPI computations, by result (ok, no_data, error)."}, []string{"result"}),
		computeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_kpi_compute_seconds",
			Help: "Time to compute every KPI tile.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_kpi_tiles_published_total",
			Help: "KPI tiles written to the tiles topic (only tiles that changed)."}),
		restatements: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_kpi_restatements_total",
			Help: "Tiles restated because late events changed a closed month."}),
		asOf: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_kpi_as_of_seconds",
			Help: "The time the tiles are valid for (newest event time of the feeds), Unix seconds."}),
	}
	if reg != nil {
		reg.MustRegister(m.computations, m.computeSeconds, m.published, m.restatements, m.asOf)
	}
	return m
}
