package notify

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

//go:embed sql/*.sql
var queries embed.FS

// logRow is one row of notification_log.
type logRow struct {
	channel, kind string
	n             Notice
	status        string
	attempt       int
	target, err   string
	latency       time.Duration
	at            time.Time
}

// recordID is deterministic: a batch written twice after an error
// collapses in the ReplacingMergeTree.
func (r *logRow) recordID() string {
	h := sha256.Sum256([]byte(r.channel + "\x00" + r.n.Key + "\x00" + r.status + "\x00" + strconv.Itoa(r.attempt) + "\x00" + strconv.FormatInt(r.at.UnixNano(), 10)))
	return hex.EncodeToString(h[:12])
}

// recorder writes the records to ClickHouse in batches, never blocking
// the caller: beyond max waiting records the newest are counted and
// dropped.
type recorder struct {
	ch  chconn.Config
	sql *sqltmpl.Set // sql/*.sql, parsed once
	log *slog.Logger
	m   *metrics
	max int

	mu      sync.Mutex
	pending []logRow
	wake    chan struct{}
}

func newRecorder(max int, ch chconn.Config, log *slog.Logger, m *metrics) *recorder {
	r := &recorder{ch: ch, log: log, m: m, max: max, wake: make(chan struct{}, 1)}
	r.sql = sqltmpl.MustParse(queries, &r.ch, nil, "sql/*.sql")
	return r
}

func (r *recorder) add(row logRow) {
	r.mu.Lock()
	if len(r.pending) >= r.max {
		r.mu.Unlock()
		r.m.logDropped.Inc()
		r.log.Warn("notification record not stored: notify.log_queue is full (clickhouse down?)", "channel", row.channel,
			"alert", row.n.Alert.ID, "status", row.status)
		return
	}
	r.pending = append(r.pending, row)
	n := len(r.pending)
	r.mu.Unlock()
	if n >= 1000 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// run flushes every 300 ms (or at 1000 records) until ctx ends, then once
// more.
func (r *recorder) run(ctx context.Context, conn driver.Conn) error {
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = r.flush(fctx, conn)
			cancel()
			return nil
		case <-t.C:
		case <-r.wake:
		}
		if err := r.flush(ctx, conn); err != nil && ctx.Err() == nil {
			r.m.logFailures.Inc()
			r.log.Warn("writing notification records to clickhouse failed; retrying", "err", err)
		}
	}
}

func (r *recorder) flush(ctx context.Context, conn driver.Conn) error {
	r.mu.Lock()
	rows := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	err := r.insert(ctx, conn, rows)
	if err != nil {
		r.mu.Lock()
		// Put them back in front, within the bound.
		keep := append(rows, r.pending...)
		if len(keep) > r.max {
			r.m.logDropped.Add(float64(len(keep) - r.max))
			keep = keep[:r.max]
		}
		r.pending = keep
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) insert(ctx context.Context, conn driver.Conn, rows []logRow) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+r.ch.Table("notification_log")+
		" (record_id, at, at_ms, channel, channel_kind, alert_id, transition_id, notice, repeat, idempotency_key, rule, severity,"+
		" ward, partner, status, attempt, target, error, latency_ms)")
	if err != nil {
		return fmt.Errorf("preparing the insert into notification_log: %w", err)
	}
	defer b.Abort()
	for i := range rows {
		x := &rows[i]
		errText := x.err
		if len(errText) > 2000 {
			errText = errText[:2000]
		}
		if err := b.Append(x.recordID(), x.at, x.at.UnixMilli(), x.channel, x.kind, x.n.Alert.ID, x.n.Alert.TransitionID, x.n.Notice,
			uint16(min(x.n.Repeat, 65535)), x.n.Key, x.n.Alert.Rule, x.n.Alert.Severity, x.n.Alert.Ward, x.n.Alert.Partner, x.status,
			uint16(min(x.attempt, 65535)), x.target, errText, uint32(min(x.latency.Milliseconds(), 1<<31))); err != nil {
			return fmt.Errorf("appending to the notification_log batch: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %d rows into notification_log: %w", len(rows), err)
	}
	return nil
}

// query renders one of sql/*.sql (internal/sqltmpl).
func (r *recorder) query(name string, vars map[string]any) (string, error) {
	return r.sql.Render(name, vars)
}

// load reads what was sent since since into the ledger.
func (r *recorder) load(ctx context.Context, conn driver.Conn, led *ledger, since time.Time) error {
	q, err := r.query("sent.sql", map[string]any{"SinceMs": since.UnixMilli(), "SinceS": since.Unix()})
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("reading notification_log (run `ioc migrate` if the table is missing): %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var channel, alertID, transition, key string
		var repeat uint16
		var at int64
		if err := rows.Scan(&channel, &alertID, &transition, &key, &repeat, &at); err != nil {
			return fmt.Errorf("reading notification_log: %w", err)
		}
		led.mark(channel, alertID, transition, key, int(repeat), at)
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.log.Info("notifications sent before read from clickhouse", "rows", n, "since", since.Format(time.RFC3339))
	return nil
}

// openAlerts reads the alerts still open from ClickHouse, each as its
// latest transition: those opened within window, and those of the
// administrative rules whatever their age, so that the notifier follows
// them after a restart even when the alerts topic no longer holds their
// transitions. The query is the one the monitor and the wall seed from.
func (r *recorder) openAlerts(ctx context.Context, conn driver.Conn, window time.Duration) ([]event.AlertEvent, error) {
	q, err := r.ch.AlertsQuery(chconn.AlertQuery{WindowS: int64(window.Seconds()), AdminAnyAge: true})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("reading the open alerts from alert_events_raw: %w", err)
	}
	defer rows.Close()
	var out []event.AlertEvent
	for rows.Next() {
		ev, err := chconn.ScanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("reading the open alerts: %w", err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
