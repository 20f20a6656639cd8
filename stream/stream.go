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
	"strconv"
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
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: s.kafka.Brokers,
		GroupID: s.cfg.GroupID,
		GroupTopics: []string{s.kafka.Topic(event.TopicReadings), s.kafka.Topic(event.TopicDeadLetter),
			s.kafka.Topic(event.TopicDeviceStatus), s.kafka.Topic(event.TopicAlerts)},
		Dialer:        s.kafka.Dialer(),
		QueueCapacity: 1000,
		// Each fetch waits for 128 KiB of a partition or 500 ms: with a
		// fetch returning at the first record, the three followers of the
		// readings topic cost Kafka thousands of requests a second at
		// 10,000 readings/s. ClickHouse gets a batch a second anyway.
		MinBytes:              128 << 10,
		MaxBytes:              8 << 20,
		MaxWait:               kafkaconn.ReaderMaxWait(500 * time.Millisecond),
		ReadBatchTimeout:      2 * time.Second,
		CommitInterval:        0, // synchronous commits, issued by us after the insert
		StartOffset:           kafka.FirstOffset,
		WatchPartitionChanges: true, // a topic served late, or grown, triggers a rebalance
		HeartbeatInterval:     min(3*time.Second, s.cfg.SessionTimeout/3),
		SessionTimeout:        s.cfg.SessionTimeout,
		RebalanceTimeout:      s.cfg.RebalanceTimeout,
		JoinGroupBackoff:      time.Second,
		ErrorLogger:           kafka.LoggerFunc(func(msg string, args ...any) { s.log.Debug("kafka reader: " + fmt.Sprintf(msg, args...)) }),
	})
	defer reader.Close()

	fetched := make(chan kafka.Message, s.cfg.FetchQueue)
	// The writer keeps running after ctx ends, to flush what was fetched.
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	var g errgroup.Group
	g.Go(func() error {
		defer close(fetched)
		for {
			m, err := reader.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Warn("fetching from kafka", "err", err)
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			select {
			case fetched <- m:
			case <-ctx.Done():
				return nil // not committed: fetched again after restart
			}
		}
	})
	g.Go(func() error { return s.write(drainCtx, conn, reader, fetched) })
	if *s.cfg.Status.Enabled {
		mon := monitor.New(s.cfg.Status, s.cfg.Alerts, s.kafka, s.ch, reg, s.log, s.reg)
		s.mon.Store(mon)
		g.Go(func() error { return mon.Run(ctx, conn) })
	}
	s.ready.Store(true)
	s.log.Info("stream running", "group", s.cfg.GroupID, "clickhouse", s.ch.Addr, "database", s.ch.Database,
		"max_rows", s.cfg.MaxRows, "max_age", s.cfg.MaxAge)
	g.Go(func() error { s.watchLag(ctx); return nil }) // stream/lag.go: brokers' view, not the reader's
	<-ctx.Done()
	s.ready.Store(false)
	timer := time.AfterFunc(30*time.Second, cancelDrain)
	defer timer.Stop()
	err = g.Wait()
	s.log.Info("stream stopped")
	return err
}

// batch is what one flush writes and commits.
type batch struct {
	readings readingRows
	dead     deadLetterRows
	status   statusRows
	alerts   alertRows
	last     map[topicPartition]kafka.Message // newest message per topic and partition, to commit
	ids      map[string]struct{}              // event ids of the readings, to count duplicates
	first    time.Time
}

type topicPartition struct {
	topic     string
	partition int
}

func (b *batch) size() int { return b.readings.len() + b.dead.len() + b.status.len() + b.alerts.len() }

// offsets lists the newest message of every partition in the batch: what
// to commit once the batch is in ClickHouse.
func (b *batch) offsets() []kafka.Message {
	msgs := make([]kafka.Message, 0, len(b.last))
	for _, m := range b.last {
		msgs = append(msgs, m)
	}
	return msgs
}

// write builds batches from fetched messages and flushes them by size and
// age. It returns when fetched is closed and the last batch is committed.
func (s *Service) write(ctx context.Context, conn driver.Conn, reader *kafka.Reader, fetched <-chan kafka.Message) error {
	b := &batch{last: map[topicPartition]kafka.Message{}, ids: map[string]struct{}{}}
	ticker := time.NewTicker(s.cfg.MaxAge / 4)
	defer ticker.Stop()
	readingsTopic := s.kafka.Topic(event.TopicReadings)
	deadTopic := s.kafka.Topic(event.TopicDeadLetter)
	statusTopic := s.kafka.Topic(event.TopicDeviceStatus)
	for {
		select {
		case m, ok := <-fetched:
			if !ok {
				return s.flush(ctx, conn, reader, b)
			}
			if b.size() == 0 {
				b.first = time.Now()
			}
			switch m.Topic {
			case readingsTopic:
				s.m.consumed.WithLabelValues("readings").Inc()
				s.addReading(b, m)
			case deadTopic:
				s.m.consumed.WithLabelValues("dead_letters").Inc()
				s.addDeadLetter(b, m)
			case statusTopic:
				s.m.consumed.WithLabelValues("status").Inc()
				s.addStatus(b, m)
			default:
				s.m.consumed.WithLabelValues("alerts").Inc()
				s.addAlert(b, m)
			}
			b.last[topicPartition{m.Topic, m.Partition}] = m
			if b.size() >= s.cfg.MaxRows {
				if err := s.flush(ctx, conn, reader, b); err != nil {
					return err
				}
			}
		case <-ticker.C:
			if s.cfg.UnsafeCommitBeforeInsert {
				s.unsafeCommit(ctx, reader, b)
			}
			if b.size() > 0 && time.Since(b.first) >= s.cfg.MaxAge {
				if err := s.flush(ctx, conn, reader, b); err != nil {
					return err
				}
			}
		}
	}
}

func (s *Service) addReading(b *batch, m kafka.Message) {
	var r event.Reading
	err := event.UnmarshalReading(m.Value, &r)
	if err == nil {
		err = r.Validate(event.NoWindow)
	}
	if err != nil {
		// A record that bypassed ingest's checks: keep it, with why.
		src := m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
		dl := event.NewDeadLetter("kafka", src, m.Value, m.Time.UnixMilli(), err)
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
	src := m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
	d := event.NewDeadLetter("kafka", src, m.Value, m.Time.UnixMilli(), event.Invalid(event.ReasonBadRecord, "%s", why))
	s.m.invalid.WithLabelValues(string(d.Reason)).Inc()
	b.dead.add(&d)
}

func (s *Service) addDeadLetter(b *batch, m kafka.Message) {
	var d event.DeadLetter
	if err := event.UnmarshalDeadLetter(m.Value, &d); err != nil || d.ID == "" {
		src := m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
		if err == nil {
			err = event.Invalid(event.ReasonBadRecord, "dead letter without id")
		}
		d = event.NewDeadLetter("kafka", src, m.Value, m.Time.UnixMilli(), err)
		s.m.invalid.WithLabelValues(string(d.Reason)).Inc()
	}
	b.dead.add(&d)
}

// flush inserts the batch, retrying until ClickHouse takes it (or shutdown
// gives up), then commits the offsets.
func (s *Service) flush(ctx context.Context, conn driver.Conn, reader *kafka.Reader, b *batch) error {
	if b.size() == 0 && len(b.last) == 0 {
		return nil
	}
	var start time.Time
	if err := InsertRetry(s.m.insertErrors, func(error) { s.m.clickhouseUp.Set(0) }).Retry(ctx, s.log,
		fmt.Sprintf("writing a batch of %d rows to clickhouse (offsets not committed)", b.size()), func() error {
			start = time.Now()
			return s.insert(ctx, conn, b)
		}); err != nil {
		return fmt.Errorf("writing batch of %d rows to clickhouse at shutdown (not committed; replayed at next start): %w", b.size(), err)
	}
	s.m.insertSeconds.Observe(time.Since(start).Seconds())
	s.m.clickhouseUp.Set(1)
	s.m.rows.WithLabelValues("sensor_readings").Add(float64(b.readings.len()))
	s.m.rows.WithLabelValues("dead_letters").Add(float64(b.dead.len()))
	s.m.rows.WithLabelValues("device_status_events").Add(float64(b.status.len()))
	s.m.rows.WithLabelValues("alert_events").Add(float64(b.alerts.len()))
	s.m.batchRows.Observe(float64(b.size()))
	if err := reader.CommitMessages(ctx, b.offsets()...); err != nil {
		// After a rebalance the partition may belong to another instance,
		// which replays from the last commit; the replay is deduplicated.
		s.m.commitErrors.Inc()
		s.log.Warn("committing offsets failed; the batch will be replayed and deduplicated", "err", err)
	}
	b.readings.reset()
	b.dead.reset()
	b.status.reset()
	b.alerts.reset()
	clear(b.last)
	clear(b.ids)
	return nil
}

// InsertRetry is how a batch insert is retried until ClickHouse takes it
// (offsets stay uncommitted meanwhile): 200 ms after the first failure,
// doubling up to 5 s; every failure counts in failures, then goes to also
// (if set). The sensor stream and the administrative feeds share it.
func InsertRetry(failures prometheus.Counter, also func(error)) backoff.Policy {
	return backoff.Policy{First: 200 * time.Millisecond, Max: 5 * time.Second, OnFailure: func(err error) {
		failures.Inc()
		if also != nil {
			also(err)
		}
	}}
}

// unsafeCommit commits the offsets of the batch being built, before it is
// inserted: the deliberate bug of stream.unsafe_commit_before_insert.
func (s *Service) unsafeCommit(ctx context.Context, reader *kafka.Reader, b *batch) {
	if msgs := b.offsets(); len(msgs) > 0 {
		_ = reader.CommitMessages(ctx, msgs...)
	}
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
