// Package stream consumes readings and dead letters from Kafka, validates
// them again, and writes them to ClickHouse in columnar batches bounded by
// rows and age. Kafka offsets are committed only after ClickHouse
// acknowledged the insert, so a crash replays at most the uncommitted batch;
// the ReplacingMergeTree key and the analyst views make replays invisible.
package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
	"github.com/sonla-ioc/ioc/stream/monitor"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// Service runs the stream role.
type Service struct {
	cfg   Config
	kafka kafkaconn.Config
	ch    chconn.Config
	log   *slog.Logger
	m     *metrics
	reg   prometheus.Registerer
	ready atomic.Bool
	mon   atomic.Pointer[monitor.Monitor]
}

// New checks the configuration and prepares the role.
func New(cfg Config, kc kafkaconn.Config, ch chconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, kafka: kc, ch: ch, log: log.With("component", "stream"), m: newMetrics(reg), reg: reg}
	if cfg.UnsafeCommitBeforeInsert {
		s.log.Warn("stream.unsafe_commit_before_insert is set: offsets are committed BEFORE ClickHouse has the rows, " +
			"a crash LOSES data. This setting exists for the fault suite only; remove it from the configuration")
	}
	return s, nil
}

// Ready reports whether the role is consuming.
func (s *Service) Ready() bool { return s.ready.Load() }

// MonitorReady reports whether the monitor (device status, VN_AQI, alerts)
// follows the live readings; false while it starts or when disabled.
func (s *Service) MonitorReady() bool {
	m := s.mon.Load()
	return m != nil && m.Ready()
}

// Run consumes until ctx is cancelled, then writes and commits what it
// holds before returning.
func (s *Service) Run(ctx context.Context) error {
	var conn driver.Conn
	if err := backoff.Retry(ctx, s.log, "connecting to clickhouse", func() (err error) {
		conn, err = s.ch.Open(ctx)
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	if *s.cfg.Migrate {
		if err := schema.Migrate(ctx, conn, s.ch, s.log); err != nil {
			return fmt.Errorf("migrating clickhouse schema: %w", err)
		}
	}
	reg, err := LoadRegistry(ctx, conn, s.ch, s.cfg.RegistryFile, s.log)
	if err != nil {
		return err
	}
	if err := backoff.Retry(ctx, s.log, "creating kafka topics", func() error {
		return s.kafka.EnsureTopics(ctx, event.TopicReadings, event.TopicDeadLetter, event.TopicDeviceStatus, event.TopicAlerts)
	}); err != nil {
		return err
	}
	b := s.newBatch(conn)
	gc := &kafkaconn.GroupConsumer{
		Name:       "stream",
		GroupID:    s.cfg.GroupID,
		Topics:     []string{event.TopicReadings, event.TopicDeadLetter, event.TopicDeviceStatus, event.TopicAlerts},
		MaxRows:    s.cfg.MaxRows,
		MaxAge:     s.cfg.MaxAge,
		FetchQueue: s.cfg.FetchQueue,
		// Each fetch waits for 128 KiB of a partition or 500 ms: with a
		// fetch returning at the first record, the three followers of the
		// readings topic cost Kafka thousands of requests a second at
		// 10,000 readings/s. ClickHouse gets a batch a second anyway.
		Reader: kafkaconn.ReaderTuning{MinBytes: 128 << 10, MaxWait: 500 * time.Millisecond,
			SessionTimeout: s.cfg.SessionTimeout, RebalanceTimeout: s.cfg.RebalanceTimeout},
		UnsafeCommitBeforeInsert: s.cfg.UnsafeCommitBeforeInsert,
		Hooks: kafkaconn.GroupHooks{
			InsertFailed: func(error) { s.m.insertErrors.Inc(); s.m.clickhouseUp.Set(0) },
			Written:      func(rows int, took time.Duration) { s.written(b, rows, took) },
			CommitFailed: func(error) { s.m.commitErrors.Inc() },
			Lag:          s.setLag,
			LagFailed:    s.m.lagErrors.Inc,
		},
	}
	var g errgroup.Group
	g.Go(func() error { return gc.Run(ctx, &s.kafka, s.log, s.reg, b) })
	if *s.cfg.Status.Enabled {
		mon := monitor.New(s.cfg.Status, s.cfg.Alerts, s.kafka, s.ch, reg, s.log, s.reg)
		s.mon.Store(mon)
		g.Go(func() error { return mon.Run(ctx, conn) })
	}
	s.ready.Store(true)
	s.log.Info("stream running", "group", s.cfg.GroupID, "clickhouse", s.ch.Addr, "database", s.ch.Database,
		"max_rows", s.cfg.MaxRows, "max_age", s.cfg.MaxAge)
	<-ctx.Done()
	s.ready.Store(false)
	err = g.Wait() // the consumer writes and commits what it fetched first
	s.log.Info("stream stopped")
	return err
}

// batch is what one flush writes: the stream's kafkaconn.Batch.
type batch struct {
	s        *Service
	conn     driver.Conn
	readings readingRows
	dead     deadLetterRows
	status   statusRows
	alerts   alertRows
	ids      map[string]struct{} // event ids of the readings, to count duplicates
	// full topic names, to tell the records apart
	readingsTopic, deadTopic, statusTopic string
}

func (s *Service) newBatch(conn driver.Conn) *batch {
	return &batch{s: s, conn: conn, ids: map[string]struct{}{}, readingsTopic: s.kafka.Topic(event.TopicReadings),
		deadTopic: s.kafka.Topic(event.TopicDeadLetter), statusTopic: s.kafka.Topic(event.TopicDeviceStatus)}
}

// Len is the rows of the batch, of every table.
func (b *batch) Len() int { return b.readings.len() + b.dead.len() + b.status.len() + b.alerts.len() }

// Add decodes a record of one of the four topics into its rows.
func (b *batch) Add(m kafka.Message) {
	s := b.s
	switch m.Topic {
	case b.readingsTopic:
		s.m.consumed.WithLabelValues("readings").Inc()
		s.addReading(b, m)
	case b.deadTopic:
		s.m.consumed.WithLabelValues("dead_letters").Inc()
		s.addDeadLetter(b, m)
	case b.statusTopic:
		s.m.consumed.WithLabelValues("status").Inc()
		s.addStatus(b, m)
	default:
		s.m.consumed.WithLabelValues("alerts").Inc()
		s.addAlert(b, m)
	}
}

// Flush writes the batch to ClickHouse (kafkaconn.GroupConsumer retries it
// and commits after).
func (b *batch) Flush(ctx context.Context) error { return b.s.insert(ctx, b.conn, b) }

// Reset empties the batch once it is written and committed.
func (b *batch) Reset() {
	b.readings.reset()
	b.dead.reset()
	b.status.reset()
	b.alerts.reset()
	clear(b.ids)
}

func (s *Service) addReading(b *batch, m kafka.Message) {
	var r event.Reading
	err := event.UnmarshalReading(m.Value, &r)
	if err == nil {
		err = r.Validate(event.NoWindow)
	}
	if err != nil {
		// A record that bypassed ingest's checks: keep it, with why.
		dl := event.NewDeadLetter("kafka", kafkaconn.RecordSource(m), m.Value, m.Time.UnixMilli(), err)
		b.dead.add(&dl)
		s.m.invalid.WithLabelValues(string(dl.Reason)).Inc()
		return
	}
	if _, dup := b.ids[r.ID]; dup {
		// Still inserted: the view keeps one row per event id, and which
		// copy wins is ClickHouse's rule (the last inserted), not ours.
		s.m.duplicates.Inc()
	} else {
		b.ids[r.ID] = struct{}{}
	}
	b.readings.add(&r, m.Partition, m.Offset)
}

// addStatus and addAlert keep the monitor's records; one that does not
// decode becomes a dead letter like a broken reading.
func (s *Service) addStatus(b *batch, m kafka.Message) {
	var st event.DeviceStatus
	if err := json.Unmarshal(m.Value, &st); err != nil || st.ID == "" || st.AtMs <= 0 || st.AtMs >= 4102444800000 {
		s.deadRecord(b, m, "device status record without id or time")
		return
	}
	b.status.add(&st)
}

func (s *Service) addAlert(b *batch, m kafka.Message) {
	var a event.AlertEvent
	if err := json.Unmarshal(m.Value, &a); err != nil || a.ID == "" || a.AlertID == "" || a.AtMs <= 0 || a.AtMs >= 4102444800000 ||
		a.OpenedMs <= 0 || a.OpenedMs >= 4102444800000 {
		s.deadRecord(b, m, "alert record without ids or times")
		return
	}
	b.alerts.add(&a)
}

func (s *Service) deadRecord(b *batch, m kafka.Message, why string) {
	d := event.NewDeadLetter("kafka", kafkaconn.RecordSource(m), m.Value, m.Time.UnixMilli(), event.Invalid(event.ReasonBadRecord, "%s", why))
	s.m.invalid.WithLabelValues(string(d.Reason)).Inc()
	b.dead.add(&d)
}

func (s *Service) addDeadLetter(b *batch, m kafka.Message) {
	var d event.DeadLetter
	if err := event.UnmarshalDeadLetter(m.Value, &d); err != nil || d.ID == "" {
		if err == nil {
			err = event.Invalid(event.ReasonBadRecord, "dead letter without id")
		}
		d = event.NewDeadLetter("kafka", kafkaconn.RecordSource(m), m.Value, m.Time.UnixMilli(), err)
		s.m.invalid.WithLabelValues(string(d.Reason)).Inc()
	}
	b.dead.add(&d)
}

// written counts a batch ClickHouse took (before its offsets are
// committed); it is the batch being flushed, not yet reset.
func (s *Service) written(b *batch, rows int, took time.Duration) {
	s.m.insertSeconds.Observe(took.Seconds())
	s.m.clickhouseUp.Set(1)
	s.m.rows.WithLabelValues("sensor_readings").Add(float64(b.readings.len()))
	s.m.rows.WithLabelValues("dead_letters").Add(float64(b.dead.len()))
	s.m.rows.WithLabelValues("device_status_events").Add(float64(b.status.len()))
	s.m.rows.WithLabelValues("alert_events").Add(float64(b.alerts.len()))
	s.m.batchRows.Observe(float64(rows))
}

func (s *Service) insert(ctx context.Context, conn driver.Conn, b *batch) error {
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if b.readings.len() > 0 {
		if err := b.readings.send(ictx, conn, s.ch.Table("sensor_readings_raw")); err != nil {
			return fmt.Errorf("writing %d readings to %s: %w", b.readings.len(), s.ch.Table("sensor_readings_raw"), err)
		}
	}
	if b.dead.len() > 0 {
		if err := b.dead.send(ictx, conn, s.ch.Table("dead_letters_raw")); err != nil {
			return fmt.Errorf("writing %d dead letters to %s: %w", b.dead.len(), s.ch.Table("dead_letters_raw"), err)
		}
	}
	if b.status.len() > 0 {
		if err := b.status.send(ictx, conn, s.ch.Table("device_status_events_raw")); err != nil {
			return fmt.Errorf("writing %d status changes to %s: %w", b.status.len(), s.ch.Table("device_status_events_raw"), err)
		}
	}
	if b.alerts.len() > 0 {
		if err := b.alerts.send(ictx, conn, s.ch.Table("alert_events_raw")); err != nil {
			return fmt.Errorf("writing %d alert transitions to %s: %w", b.alerts.len(), s.ch.Table("alert_events_raw"), err)
		}
	}
	return nil
}
