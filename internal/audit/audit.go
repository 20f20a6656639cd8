// Package audit records who did what, when and from where into the
// ClickHouse table {admin database}.audit_log (stream/schema/sql/020_security.sql):
// sign-ins and their failures, refusals, alert acknowledgements, and every
// change of rules, devices, users and kiosk tokens.
//
// Recording never blocks the request that caused it: events go into a
// bounded queue that one goroutine writes in batches. A full queue drops the
// event and counts it (ioc_audit_dropped_total), so that ClickHouse being
// away cannot stall the dashboard; every event is also logged. Refusals
// (denied, limited) have a queue of their own and are written one by one
// only up to a rate per client address, then in aggregate (refusals.go), so
// that a flood of them cannot drop or delay a real event.
package audit

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

// Outcomes of an audited action.
const (
	OK      = "ok"      // done
	Denied  = "denied"  // refused by policy (no or wrong credentials, role, origin, CSRF, ACL)
	Failed  = "failed"  // attempted and allowed, but it did not succeed
	Limited = "limited" // refused by a rate limit
)

// Event is one audit record.
type Event struct {
	ID        string    `json:"event_id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`      // user name, "kiosk:<id>", "system:<name>", "anonymous"
	Role      string    `json:"actor_role"` // operator, leadership, analyst, admin, kiosk, system, or empty
	Action    string    `json:"action"`     // auth.login, ws.connect, alert.ack, user.update, …
	Target    string    `json:"target"`     // what was acted on: a path, a user, an alert id
	Outcome   string    `json:"outcome"`    // ok, denied, failed, limited
	Reason    string    `json:"reason"`     // why, for refusals and failures
	Remote    string    `json:"remote_addr"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail"`
	Service   string    `json:"service"` // dashboard, ingest, cli
}

// Sink takes audit events. Log and the tests implement it too.
type Sink interface {
	Record(Event)
}

// Config of the writer.
type Config struct {
	Queue      int           // events waiting to be written (default 10000)
	FlushEvery time.Duration // default 500ms
	MaxBatch   int           // default 1000
	// Refusals (refusals.go): rows written one by one per client address
	// a minute (default 120) and from all addresses (default 1200); beyond,
	// one summary row per address, action, outcome and reason every
	// SummaryEvery (default 10s); RefusalQueue refusals wait to be written
	// (default 1000), RefusalAddresses addresses are tracked (default
	// 1000; so at most about that many summary rows every SummaryEvery).
	RefusalsPerAddress int
	RefusalsPerMinute  int
	RefusalQueue       int
	RefusalAddresses   int
	SummaryEvery       time.Duration
}

// Writer writes events to ClickHouse in batches.
type Writer struct {
	cfg     Config
	ch      chconn.Config
	insert  string // sql/insert.sql for ch
	service string
	log     *slog.Logger
	queue   chan Event
	refused chan Event // refusals admitted to be written one by one
	agg     *refusalAgg
	m       metrics
	mu      sync.Mutex
	conn    driver.Conn
}

type metrics struct {
	events     *prometheus.CounterVec
	dropped    prometheus.Counter
	errors     prometheus.Counter
	aggregated prometheus.Counter
}

// New prepares a writer; Run writes.
func New(cfg Config, ch chconn.Config, service string, log *slog.Logger, reg prometheus.Registerer) *Writer {
	if cfg.Queue <= 0 {
		cfg.Queue = 10000
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 500 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.RefusalsPerAddress <= 0 {
		cfg.RefusalsPerAddress = 120
	}
	if cfg.RefusalsPerMinute <= 0 {
		cfg.RefusalsPerMinute = 1200
	}
	if cfg.RefusalQueue <= 0 {
		cfg.RefusalQueue = 1000
	}
	if cfg.RefusalAddresses <= 0 {
		cfg.RefusalAddresses = 1000
	}
	if cfg.SummaryEvery <= 0 {
		cfg.SummaryEvery = 10 * time.Second
	}
	w := &Writer{cfg: cfg, ch: ch, service: service, log: log.With("component", "audit"), queue: make(chan Event, cfg.Queue),
		refused: make(chan Event, cfg.RefusalQueue), agg: newRefusalAgg(cfg.RefusalsPerAddress, cfg.RefusalsPerMinute, cfg.RefusalAddresses)}
	insert, err := sqltmpl.MustParse(sqlFS, &w.ch, nil, "sql/insert.sql").Render("insert.sql", nil)
	if err != nil {
		panic(err) // an embedded file that does not render: a build mistake
	}
	w.insert = insert
	w.m = metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_audit_events_total",
			Help: "Audit events recorded, by outcome."}, []string{"outcome"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_audit_dropped_total",
			Help: "Audit events dropped because the audit queue was full (ClickHouse unreachable for long)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_audit_write_errors_total",
			Help: "Failed writes of audit batches to ClickHouse (retried)."}),
		aggregated: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_audit_refusals_aggregated_total",
			Help: "Refusals written as part of a summary row instead of one by one (over the per-address or overall rate)."}),
	}
	if reg != nil {
		// Several writers in one process (`ioc run`: dashboard and ingest)
		// share the counters.
		w.m.events = register(reg, w.m.events).(*prometheus.CounterVec)
		w.m.dropped = register(reg, w.m.dropped).(prometheus.Counter)
		w.m.errors = register(reg, w.m.errors).(prometheus.Counter)
		w.m.aggregated = register(reg, w.m.aggregated).(prometheus.Counter)
	}
	return w
}

func register(reg prometheus.Registerer, c prometheus.Collector) prometheus.Collector {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector
		}
		panic(err)
	}
	return c
}

// Record queues an event without blocking; the event is logged either way
// (a refusal beyond its address's rate only as part of its summary).
func (w *Writer) Record(e Event) {
	e = w.normalise(e)
	w.m.events.WithLabelValues(e.Outcome).Inc()
	if IsRefusal(e) {
		if !w.agg.admit(e) {
			w.m.aggregated.Inc()
			return
		}
		w.logEvent(e)
		select {
		case w.refused <- e:
		default:
			w.agg.count(e) // not lost: it joins the next summary
			w.m.aggregated.Inc()
		}
		return
	}
	w.logEvent(e)
	select {
	case w.queue <- e:
	default:
		w.m.dropped.Inc()
	}
}

// IsRefusal tells the events that anyone can cause without limit (denied,
// limited) from the others.
func IsRefusal(e Event) bool { return e.Outcome == Denied || e.Outcome == Limited }

func (w *Writer) logEvent(e Event) {
	level := slog.LevelInfo
	if e.Outcome != OK {
		level = slog.LevelWarn
	}
	w.log.Log(context.Background(), level, "audit", "action", e.Action, "outcome", e.Outcome, "actor", e.Actor,
		"role", e.Role, "target", e.Target, "reason", e.Reason, "remote", e.Remote, "detail", e.Detail)
}

// summaries turns the refusals counted since the last call into rows.
func (w *Writer) summaries() []Event {
	evs := w.agg.drain()
	for i := range evs {
		evs[i] = w.normalise(evs[i])
		w.logEvent(evs[i])
	}
	return evs
}

func (w *Writer) normalise(e Event) Event {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.ID == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		e.ID = hex.EncodeToString(b[:])
	}
	if e.Service == "" {
		e.Service = w.service
	}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	e.Actor, e.Target, e.Reason = clip(e.Actor, 256), clip(e.Target, 1024), clip(e.Reason, 1024)
	e.UserAgent, e.Detail, e.Remote = clip(e.UserAgent, 512), clip(e.Detail, 4096), clip(e.Remote, 128)
	return e
}

// clip bounds a field and keeps it valid UTF-8 (it may come from a client).
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Run writes queued events until ctx ends, then writes what is left (for at
// most five seconds).
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.FlushEvery)
	defer t.Stop()
	sum := time.NewTicker(w.cfg.SummaryEvery)
	defer sum.Stop()
	var batch []Event
	for {
		select {
		case e := <-w.queue:
			batch = append(batch, e)
			if len(batch) < w.cfg.MaxBatch {
				continue
			}
		case e := <-w.refused:
			batch = append(batch, e)
			if len(batch) < w.cfg.MaxBatch {
				continue
			}
		case <-sum.C:
			batch = append(batch, w.summaries()...)
		case <-t.C:
		case <-ctx.Done():
			for more := true; more; {
				select {
				case e := <-w.queue:
					batch = append(batch, e)
				case e := <-w.refused:
					batch = append(batch, e)
				default:
					more = false
				}
			}
			batch = append(batch, w.summaries()...)
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if len(batch) > 0 {
				if err := w.write(fctx, batch); err != nil {
					w.log.Error("audit events lost at shutdown: clickhouse did not take them", "events", len(batch), "err", err)
				}
			}
			cancel()
			w.close()
			return nil
		}
		if len(batch) == 0 {
			continue
		}
		if err := w.write(ctx, batch); err != nil {
			w.m.errors.Inc()
			w.log.Warn("writing audit events to clickhouse; will retry", "events", len(batch), "err", err)
			batch = w.bound(batch)
			continue
		}
		batch = batch[:0]
	}
}

// bound keeps a batch that waits for ClickHouse within the queue's size
// plus the refusals' queue: refusals go first, then the oldest events.
func (w *Writer) bound(batch []Event) []Event {
	drop := len(batch) - (w.cfg.Queue + w.cfg.RefusalQueue)
	if drop <= 0 {
		return batch
	}
	w.m.dropped.Add(float64(drop))
	kept := batch[:0]
	for _, e := range batch {
		if drop > 0 && IsRefusal(e) {
			drop--
			continue
		}
		kept = append(kept, e)
	}
	return kept[drop:]
}

func (w *Writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

func (w *Writer) connect(ctx context.Context) (driver.Conn, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn != nil {
		return w.conn, nil
	}
	c, err := w.ch.Open(ctx)
	if err != nil {
		return nil, err
	}
	w.conn = c
	return c, nil
}

func (w *Writer) write(ctx context.Context, batch []Event) error {
	conn, err := w.connect(ctx)
	if err != nil {
		return err
	}
	b, err := conn.PrepareBatch(ctx, w.insert)
	if err != nil {
		w.close() // reconnect next time
		return fmt.Errorf("preparing audit insert: %w", err)
	}
	defer b.Abort()
	for _, e := range batch {
		if err := b.Append(e.ID, e.At, e.At.UnixMilli(), e.Actor, e.Role, e.Action, e.Target, e.Outcome, e.Reason,
			e.Remote, e.UserAgent, e.Detail, e.Service); err != nil {
			return fmt.Errorf("encoding audit event: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		w.close()
		return fmt.Errorf("inserting %d audit events into %s: %w", len(batch), w.ch.SecurityTable("audit_log"), err)
	}
	return nil
}

// Filter selects audit events for the admin view.
type Filter struct {
	Since, Until time.Time
	Actor        string
	Action       string // prefix: "auth." matches auth.login, auth.logout …
	Outcome      string
	Limit        int
}

//go:embed sql/*.sql
var sqlFS embed.FS

// Reader reads the audit log of one configuration (sql/query.sql, parsed
// once): services build one, and read with it on every request.
type Reader struct {
	ch  chconn.Config
	sql *sqltmpl.Set
}

// NewReader prepares the reading of ch's audit log.
func NewReader(ch chconn.Config) *Reader {
	r := &Reader{ch: ch}
	r.sql = sqltmpl.MustParse(sqlFS, &r.ch, nil, "sql/query.sql")
	return r
}

// Query reads audit events, newest first (sql/query.sql).
func (r *Reader) Query(ctx context.Context, conn driver.Conn, f Filter) ([]Event, error) {
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 500
	}
	var out []Event
	err := r.Each(ctx, conn, f, func(e Event) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Each calls fn with every event the filter selects, newest first, as the
// rows stream from ClickHouse (an export of the audit log holds none of
// them); f.Limit 0 means no limit. Since defaults to a week ago.
func (r *Reader) Each(ctx context.Context, conn driver.Conn, f Filter, fn func(Event) error) error {
	if f.Since.IsZero() {
		f.Since = time.Now().Add(-7 * 24 * time.Hour)
	}
	if f.Until.IsZero() {
		f.Until = time.Now().Add(time.Minute)
	}
	where := []string{"at_ms >= ?", "at_ms < ?"}
	args := []any{f.Since.UnixMilli(), f.Until.UnixMilli()}
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if f.Action != "" {
		where, args = append(where, "startsWith(action, ?)"), append(args, f.Action)
	}
	if f.Outcome != "" {
		where, args = append(where, "outcome = ?"), append(args, f.Outcome)
	}
	q, err := r.sql.Render("query.sql", map[string]any{"Where": where, "Limit": f.Limit})
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var ms int64
		if err := rows.Scan(&e.ID, &ms, &e.Actor, &e.Role, &e.Action, &e.Target, &e.Outcome, &e.Reason, &e.Remote,
			&e.UserAgent, &e.Detail, &e.Service); err != nil {
			return fmt.Errorf("reading the audit log: %w", err)
		}
		e.At = time.UnixMilli(ms)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
