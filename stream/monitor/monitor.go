package monitor

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

//go:embed sql/*.sql
var queries embed.FS

// Monitor runs the tracker, the VN_AQI computation and the alert engine on
// the live readings and publishes what they derive.
type Monitor struct {
	status StatusConfig
	alerts AlertsConfig
	kafka  kafkaconn.Config
	ch     chconn.Config
	log    *slog.Logger
	m      *metrics
	reg    *registry.Registry
	ready  atomic.Bool

	// Set in Run; owned by the loop goroutine.
	tracker *Tracker
	aqi     *AQI
	engine  *Engine
	// adminDropped is the engine's count of ignored subjects last reported.
	adminDropped int64
	// regq carries the newest registry in force (SetRegistry) to the loop.
	regq chan *registry.Registry
}

// SetRegistry hands the monitor a new registry in force (a device added,
// edited or retired); the loop applies it before its next input. Only the
// newest waiting one is kept. One goroutine calls it.
func (m *Monitor) SetRegistry(r *registry.Registry) {
	for {
		select {
		case m.regq <- r:
			return
		default:
		}
		select {
		case <-m.regq:
		default:
		}
	}
}

// New prepares the monitor over a registry. It runs inside stream: its log
// lines add sub=monitor to the component of log.
func New(status StatusConfig, alerts AlertsConfig, kc kafkaconn.Config, ch chconn.Config, reg *registry.Registry,
	log *slog.Logger, promReg prometheus.Registerer) *Monitor {
	return &Monitor{status: status, alerts: alerts, kafka: kc, ch: ch, reg: reg, log: log.With("sub", "monitor"), m: newMetrics(promReg),
		regq: make(chan *registry.Registry, 1)}
}

// Ready reports whether the monitor follows the live readings.
func (m *Monitor) Ready() bool { return m.ready.Load() }

// input is one record the loop handles.
type input struct {
	reading *event.Reading
	command *event.AlertCommand
	admin   event.AdminEvent // a dossier or task event (admin_alerts.go)
}

// Run seeds the state from ClickHouse, then follows the readings and the
// alert commands until ctx ends.
func (m *Monitor) Run(ctx context.Context, conn driver.Conn) error {
	start := time.Now()
	m.tracker = NewTracker(m.status, m.reg, start.UnixMilli())
	m.aqi = NewAQI(m.status)
	m.engine = NewEngine(m.alerts, m.tracker.Device)
	adminKinds := m.engine.AdminKinds()
	topics := []string{event.TopicReadings, event.TopicDeviceStatus, event.TopicAlerts, event.TopicAlertCommands}
	for _, k := range adminKinds {
		topics = append(topics, event.AdminTopic(k))
	}
	if err := backoff.Retry(ctx, m.log, "creating the monitor's kafka topics", func() error {
		return m.kafka.EnsureTopics(ctx, topics...)
	}); err != nil {
		return nil
	}
	if err := backoff.Retry(ctx, m.log, "reading the monitor's state from clickhouse", func() error { return m.seed(ctx, conn) }); err != nil {
		return nil
	}
	writer := m.kafka.NewWriter(kafkaconn.WriterOptions{BatchBytes: 8 << 20})
	// Derived readings (VN_AQI), status changes and alert transitions: the
	// topics of out.add below.
	m.kafka.LimitMetadata(writer, event.TopicReadings, event.TopicDeviceStatus, event.TopicAlerts)
	defer writer.Close()

	in := make(chan input, 4096)
	g, gctx := errgroup.WithContext(ctx)
	var positioned atomic.Int32
	mark := func() {
		if positioned.Add(1) == int32(2+len(adminKinds)) {
			m.ready.Store(true)
		}
	}
	leave := event.Readings.Join() // decoded once with stream's batch writer and the wall
	defer leave()
	g.Go(func() error {
		return m.kafka.Tail(gctx, m.log, event.TopicReadings, m.status.Replay, mark, func(msg kafka.Message) {
			var r event.Reading
			if err := event.Readings.DecodeValid(msg.Value, &r); err != nil {
				return // stream dead-letters it; the monitor ignores it
			}
			select {
			case in <- input{reading: &r}:
			case <-gctx.Done():
			}
		}, kafkaconn.Batched(64<<10, 300*time.Millisecond))
	})
	g.Go(func() error {
		// Commands already applied (their alert is acknowledged or gone) are
		// ignored, so replaying some at start is harmless.
		return m.kafka.Tail(gctx, m.log, event.TopicAlertCommands, 1000, mark, func(msg kafka.Message) {
			var c event.AlertCommand
			if err := json.Unmarshal(msg.Value, &c); err != nil {
				return
			}
			select {
			case in <- input{command: &c}:
			case <-gctx.Done():
			}
		})
	})
	for _, kind := range adminKinds {
		// The dossiers and tasks of the administrative rules: events the
		// feed consumer may not have written to ClickHouse yet are among
		// the replayed ones; merging one twice changes nothing.
		g.Go(func() error {
			return m.kafka.Tail(gctx, m.log, event.AdminTopic(kind), m.status.Replay, mark, func(msg kafka.Message) {
				ev, err := event.DecodeAdmin(kind, msg.Value)
				if err == nil {
					err = event.PrepareAdmin(ev, msg.Time.UnixMilli(), event.DefaultAdminLimits)
				}
				if err != nil {
					return // the feed consumer dead-letters it; the monitor ignores it
				}
				select {
				case in <- input{admin: ev}:
				case <-gctx.Done():
				}
			})
		})
	}
	g.Go(func() error { return m.loop(gctx, in, writer) })
	m.log.Info("monitor running", "devices", m.reg.Len(), "rules", len(m.alerts.Rules))
	err := g.Wait()
	m.ready.Store(false)
	return err
}

// out collects what one step derived, to produce in one write.
type out struct {
	topic func(string) string // the pipeline's name of a topic (kafka.topic_prefix)
	msgs  []kafka.Message
}

func (o *out) add(topic, key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	o.msgs = append(o.msgs, kafka.Message{Topic: o.topic(topic), Key: []byte(key), Value: b})
}

func (m *Monitor) loop(ctx context.Context, in <-chan input, w *kafka.Writer) error {
	tick := time.NewTicker(m.status.Tick)
	defer tick.Stop()
	o := out{topic: m.kafka.Topic}
	flush := func() error {
		if len(o.msgs) == 0 {
			return nil
		}
		wait := 200 * time.Millisecond
		for {
			err := w.WriteMessages(ctx, o.msgs...)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			// The state has moved on; the records must reach Kafka or the
			// wall and ClickHouse would miss a change. Wait for Kafka.
			m.log.Warn("publishing status and alert changes to kafka failed; retrying", "records", len(o.msgs), "err", err)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil
			}
			wait = min(wait*2, 5*time.Second)
		}
		o.msgs = o.msgs[:0]
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-m.regq:
			gone := map[string]bool{}
			for id := range m.tracker.devices {
				if r.Lookup(id) == nil {
					gone[id] = true
				}
			}
			m.tracker.SetRegistry(r)
			m.log.Info("monitor follows a new registry", "devices", r.Len(), "gone", len(gone))
			m.publishAlerts(m.engine.Retired(gone, time.Now().UnixMilli()), &o)
			if err := flush(); err != nil {
				return err
			}
		case x := <-in:
			m.handle(x, time.Now(), &o)
			// Take what else is queued before writing: one Kafka write per burst.
			for more := true; more && len(o.msgs) < 1000; {
				select {
				case x := <-in:
					m.handle(x, time.Now(), &o)
				default:
					more = false
				}
			}
			if err := flush(); err != nil {
				return err
			}
		case now := <-tick.C:
			m.tick(now, &o)
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

func (m *Monitor) handle(x input, now time.Time, o *out) {
	if c := x.command; c != nil {
		evs, err := m.engine.Command(*c)
		if err != nil {
			m.m.commands.WithLabelValues("rejected").Inc()
			m.log.Debug("alert command not applied", "alert", c.AlertID, "operator", c.Operator, "err", err)
			return
		}
		m.m.commands.WithLabelValues("applied").Inc()
		m.publishAlerts(evs, o)
		return
	}
	if x.admin != nil {
		m.publishAlerts(m.engine.Admin(x.admin, now.UnixMilli()), o)
		return
	}
	r := x.reading
	if !r.Derived {
		m.publishStatus(m.tracker.Seen(r.Partner, r.DeviceID, r.ReceivedMs), o)
		if d, ok := m.aqi.Observe(r); ok {
			o.add(event.TopicReadings, d.DeviceID, &d)
			m.m.aqi.Inc()
			// The engine judges the value now; the copy that comes back
			// from Kafka is derived and skipped below.
			m.publishAlerts(m.engine.Reading(&d), o)
		}
		m.publishAlerts(m.engine.Reading(r), o)
	}
}

func (m *Monitor) tick(now time.Time, o *out) {
	m.publishStatus(m.tracker.Tick(now.UnixMilli()), o)
	m.publishAlerts(m.engine.Tick(now.UnixMilli()), o)
	for s, n := range m.tracker.Counts() {
		m.m.devices.WithLabelValues(s).Set(float64(n))
	}
	m.m.openAlerts.Set(float64(len(m.engine.open)))
	dossiers, tasks, dropped := m.engine.AdminSubjects()
	m.m.adminSubjects.WithLabelValues(string(event.KindDossier)).Set(float64(dossiers))
	m.m.adminSubjects.WithLabelValues(string(event.KindTask)).Set(float64(tasks))
	if d := dropped - m.adminDropped; d > 0 {
		m.m.adminDropped.Add(float64(d))
		m.log.Warn("administrative alert rules full: dossiers or tasks ignored; raise stream.alerts.max_admin_subjects",
			"ignored", d, "max", m.alerts.MaxAdminSubjects)
	}
	m.adminDropped = dropped
}

func (m *Monitor) publishStatus(evs []event.DeviceStatus, o *out) {
	for i := range evs {
		ev := &evs[i]
		key := ev.DeviceID
		if ev.Kind == event.SubjectFeed {
			key = "feed:" + ev.Partner
		}
		o.add(event.TopicDeviceStatus, key, ev)
		m.m.changes.WithLabelValues(ev.Kind, ev.Status).Inc()
		m.log.Info("status changed", "kind", ev.Kind, "partner", ev.Partner, "device", ev.DeviceID,
			"status", ev.Status, "previous", ev.Previous, "cause", ev.Cause)
		m.publishAlerts(m.engine.Status(*ev), o)
	}
}

func (m *Monitor) publishAlerts(evs []event.AlertEvent, o *out) {
	for i := range evs {
		ev := &evs[i]
		o.add(event.TopicAlerts, ev.AlertID, ev)
		m.m.transitions.WithLabelValues(ev.Rule, ev.State).Inc()
		m.log.Info("alert "+ev.State, "alert", ev.AlertID, "rule", ev.Rule, "subject", ev.Subject, "severity", ev.Severity,
			"level", ev.Level, "operator", ev.Operator)
	}
}

// seed reads what ClickHouse knows: each device's newest reading, each
// device's and feed's last status, the last 13 hours of pollutants, the
// alerts still open and the dossiers and tasks the administrative rules
// watch.
func (m *Monitor) seed(ctx context.Context, conn driver.Conn) error {
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Readings received after the cutoff are replayed from Kafka instead.
	cutoff := time.Now().Add(-2 * time.Second).UnixMilli()
	vars := map[string]any{"WindowS": int(m.status.SeedWindow.Seconds()), "CutoffMs": cutoff,
		"MaxSubjects": m.alerts.MaxAdminSubjects}
	set, err := sqltmpl.Parse(queries, &m.ch, nil, "sql/*.sql")
	if err != nil {
		return err
	}
	run := func(name, q string, scan func(driver.Rows) error) error {
		rows, err := conn.Query(sctx, q)
		if err != nil {
			return fmt.Errorf("monitor seed %s: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("monitor seed %s: %w", name, err)
			}
		}
		return rows.Err()
	}
	query := func(name string, scan func(driver.Rows) error, more ...map[string]any) error {
		data := maps.Clone(vars)
		for _, mm := range more {
			maps.Copy(data, mm)
		}
		q, err := set.Render(name, data)
		if err != nil {
			return fmt.Errorf("monitor seed: %w", err)
		}
		return run(name, q, scan)
	}
	alertsQuery, err := m.ch.AlertsQuery(chconn.AlertQuery{WindowS: int64(m.status.SeedWindow.Seconds()), AdminAnyAge: true})
	if err != nil {
		return fmt.Errorf("monitor seed: %w", err)
	}
	var seen, statuses, bins, alerts, dossiers, tasks int
	// The administrative rules' subjects: all open ones, and the closed
	// ones within the horizon (admin_alerts.go prunes the same way).
	var adminErr error
	now := time.Now().UnixMilli()
	if r := m.engine.admin.dossierRule; r != nil {
		adminErr = errors.Join(adminErr, query("admin_dossiers.sql", func(rs driver.Rows) error {
			var id, procedure, unit, closedState string
			var v version
			var rank uint8
			var received, due, closed int64
			if err := rs.Scan(&id, &procedure, &unit, &v[0], &rank, &v[2], &received, &due, &closed, &closedState); err != nil {
				return err
			}
			v[1] = int64(rank)
			m.engine.mergeDossier(id, procedure, unit, v, received, due, closed, closedState)
			dossiers++
			return nil
		}, map[string]any{"SinceMs": now - r.Horizon.Milliseconds()}))
	}
	if r := m.engine.admin.taskRule; r != nil {
		adminErr = errors.Join(adminErr, query("admin_tasks.sql", func(rs driver.Rows) error {
			var id, title, owner, plan, state string
			var v version
			var rank uint8
			var due int64
			if err := rs.Scan(&id, &title, &owner, &plan, &v[0], &rank, &v[2], &state, &due); err != nil {
				return err
			}
			v[1] = int64(rank)
			m.engine.mergeTask(id, title, owner, plan, v, state, due)
			tasks++
			return nil
		}, map[string]any{"SinceMs": now - r.Horizon.Milliseconds()}))
	}
	err = errors.Join(adminErr,
		query("last_seen.sql", func(r driver.Rows) error {
			var partner, device string
			var last int64
			if err := r.Scan(&partner, &device, &last); err != nil {
				return err
			}
			m.tracker.RestoreSeen(partner, device, last)
			seen++
			return nil
		}),
		query("status.sql", func(r driver.Rows) error {
			var kind, partner, device, status string
			var at int64
			if err := r.Scan(&kind, &partner, &device, &status, &at); err != nil {
				return err
			}
			m.tracker.Restore(kind, partner, device, status, at)
			if kind == event.SubjectFeed {
				m.engine.RestoreFeed(partner, status)
			}
			statuses++
			return nil
		}),
		query("aqi.sql", func(r driver.Rows) error {
			var partner, device, metric, unit string
			var hour time.Time
			var sum float64
			var n uint64
			var newest int64
			if err := r.Scan(&partner, &device, &metric, &unit, &hour, &sum, &n, &newest); err != nil {
				return err
			}
			m.aqi.Seed(partner, device, metric, unit, hour.UnixMilli(), sum, int(n), newest)
			bins++
			return nil
		}),
		run("alerts.sql", alertsQuery, func(r driver.Rows) error {
			ev, err := chconn.ScanAlert(r)
			if err != nil {
				return err
			}
			m.engine.Restore(ev)
			alerts++
			return nil
		}),
	)
	if err != nil {
		return err
	}
	m.log.Info("monitor state read from clickhouse", "devices_seen", seen, "statuses", statuses, "aqi_hours", bins, "open_alerts", alerts,
		"dossiers", dossiers, "tasks", tasks)
	return nil
}

type metrics struct {
	changes     *prometheus.CounterVec
	transitions *prometheus.CounterVec
	commands    *prometheus.CounterVec
	devices     *prometheus.GaugeVec
	openAlerts  prometheus.Gauge
	aqi         prometheus.Counter

	adminSubjects *prometheus.GaugeVec
	adminDropped  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_monitor_status_changes_total",
			Help: "Device and feed status changes derived, by kind and new status."}, []string{"kind", "status"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_monitor_alert_transitions_total",
			Help: "Alert transitions, by rule and new state."}, []string{"rule", "state"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_monitor_alert_commands_total",
			Help: "Operator commands on alerts, applied or rejected."}, []string{"result"}),
		devices: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_monitor_devices",
			Help: "Registered devices by status."}, []string{"status"}),
		openAlerts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_monitor_open_alerts",
			Help: "Alerts not resolved."}),
		aqi: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_monitor_vn_aqi_published_total",
			Help: "Derived VN_AQI values published."}),
		adminSubjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_monitor_admin_subjects",
			Help: "Dossiers and tasks the administrative alert rules keep in memory, by kind."}, []string{"kind"}),
		adminDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_monitor_admin_subjects_dropped_total",
			Help: "Dossiers and tasks ignored by the administrative alert rules because stream.alerts.max_admin_subjects was reached."}),
	}
	if reg != nil {
		reg.MustRegister(m.changes, m.transitions, m.commands, m.devices, m.openAlerts, m.aqi, m.adminSubjects, m.adminDropped)
	}
	return m
}
