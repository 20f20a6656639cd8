// Package feeds consumes the city's administrative feeds (the topics
// ioc.admin.<kind>.v1: procedures, dossiers, documents, reform-plan tasks,
// budget, portal traffic, shop ratings, unit registry), validates every
// event again, writes it to its ClickHouse table and, once ClickHouse has
// it and the Kafka offsets are committed, wakes the KPI engine.
//
// It runs in the stream role beside the sensor consumer, with a consumer
// group of its own: the feeds are small and latency-bound (a tile must move
// within 2 s of its event), the sensor stream is large and throughput-bound
// (batches of 50,000 rows), and neither should wait for the other.
package feeds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

// Config is the feed consumer's configuration (section feeds).
type Config struct {
	// Enabled runs the consumer and the KPI engine in the stream role
	// (default true).
	Enabled *bool `yaml:"enabled"`
	// GroupID is the consumer group of the administrative topics.
	GroupID string `yaml:"group_id"`
	// A batch is written when it holds MaxRows events or its oldest is
	// MaxAge old. The feeds are small; a short age keeps tiles live.
	MaxRows int           `yaml:"max_rows"`
	MaxAge  time.Duration `yaml:"max_age"`
	// FetchQueue bounds records fetched and not yet in a batch.
	FetchQueue int `yaml:"fetch_queue"`
	// KPI configures the engine.
	KPI kpi.Config `yaml:"kpi"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	t := true
	if c.Enabled == nil {
		c.Enabled = &t
	}
	if c.GroupID == "" {
		c.GroupID = "ioc-feeds"
	}
	if c.MaxRows == 0 {
		c.MaxRows = 20000
	}
	if c.MaxAge == 0 {
		c.MaxAge = 200 * time.Millisecond
	}
	if c.FetchQueue == 0 {
		c.FetchQueue = 5000
	}
	c.KPI.Defaults()
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.GroupID == "":
		return errors.New("feeds.group_id: required")
	case c.MaxRows < 1 || c.MaxRows > 1_000_000:
		return fmt.Errorf("feeds.max_rows: %d is outside 1..1000000", c.MaxRows)
	case c.MaxAge < 10*time.Millisecond || c.MaxAge > 10*time.Second:
		return fmt.Errorf("feeds.max_age: %s is outside 10ms..10s (tiles must move within 2 s of an event)", c.MaxAge)
	case c.FetchQueue < 1:
		return fmt.Errorf("feeds.fetch_queue: %d must be positive", c.FetchQueue)
	}
	return c.KPI.Validate()
}

// On reports whether the consumer should run.
func (c *Config) On() bool { return c.Enabled == nil || *c.Enabled }

// Service consumes the administrative feeds and runs the KPI engine.
type Service struct {
	cfg    Config
	kafka  kafkaconn.Config
	ch     chconn.Config
	log    *slog.Logger
	m      *metrics
	engine *kpi.Engine
	reg    prometheus.Registerer
	ready  atomic.Bool
}

// New checks the configuration and prepares the consumer and its engine.
func New(cfg Config, kc kafkaconn.Config, ch chconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With("component", "feeds")
	eng, err := kpi.NewEngine(cfg.KPI, kc, ch, log, reg)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, kafka: kc, ch: ch, log: log, m: newMetrics(reg), engine: eng, reg: reg}, nil
}

// Ready reports whether the consumer is consuming and the engine running.
func (s *Service) Ready() bool { return s.ready.Load() && s.engine.Ready() }

// Engine is the KPI engine the service drives.
func (s *Service) Engine() *kpi.Engine { return s.engine }

// Run consumes until ctx is cancelled, then writes and commits what it
// holds, lets the engine publish once more, and returns.
func (s *Service) Run(ctx context.Context) error {
	conn, err := s.ch.OpenRetry(ctx, s.log)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The stream role applies the schema at its start (or `ioc migrate`
	// did): wait for it rather than race it with a second migration.
	if err := backoff.Retry(ctx, s.log, "waiting for the administrative tables (applied by stream or `ioc migrate`)", func() error {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'org_unit_events_raw'",
			s.ch.Database).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s.org_unit_events_raw does not exist yet (schema 030_admin.sql)", s.ch.Database)
		}
		return nil
	}); err != nil {
		return err
	}
	topics := event.AdminTopics()
	if err := backoff.Retry(ctx, s.log, "creating kafka topics", func() error {
		return s.kafka.EnsureTopics(ctx, append(topics, event.TopicDeadLetter)...) // waits for their leaders
	}); err != nil {
		return err
	}
	notify := make(chan struct{}, 1)
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() { engineDone <- s.engine.Run(engineCtx, conn, notify) }()

	b := s.newBatch(conn)
	gc := &kafkaconn.GroupConsumer{
		Name:       "feeds",
		GroupID:    s.cfg.GroupID,
		Topics:     topics,
		MaxRows:    s.cfg.MaxRows,
		MaxAge:     s.cfg.MaxAge,
		FetchQueue: s.cfg.FetchQueue,
		// A batch is also written as soon as nothing more has come for
		// 15 ms: a lone event (a late dossier posted by hand) does not wait
		// for the batch to age, a burst still makes large inserts.
		IdleFlush: 15 * time.Millisecond,
		// A fetch returns as soon as a record arrives (MinBytes 1): MaxWait
		// only bounds the idle long poll of each partition (see
		// kafkaconn.ReaderMaxWait). After a broker hiccup every partition
		// retries soon.
		Reader: kafkaconn.ReaderTuning{MinBytes: 1, MaxWait: time.Second,
			ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 250 * time.Millisecond},
		Hooks: kafkaconn.GroupHooks{
			InsertFailed: func(error) { s.m.insertErrors.Inc() },
			Written: func(int, time.Duration) {
				s.written(b)
				// The rows are in ClickHouse: the engine may compute (the
				// commit that follows can take a while, and does not
				// change what the tiles show).
				select {
				case notify <- struct{}{}:
				default: // the engine already has a wake-up pending
				}
			},
			CommitFailed:   func(error) { s.m.commitErrors.Inc() },
			ReaderReplaced: s.m.readerResets.Inc,
			Lag:            s.setLag,
			LagFailed:      s.m.lagErrors.Inc,
		},
	}
	s.ready.Store(true)
	s.log.Info("feeds running", "group", s.cfg.GroupID, "topics", len(topics), "max_age", s.cfg.MaxAge)
	go func() { <-ctx.Done(); s.ready.Store(false) }()
	err = gc.Run(ctx, &s.kafka, s.log, s.reg, b) // writes and commits what it fetched before returning
	s.ready.Store(false)
	// The engine computes once more over what was just written, then stops.
	time.AfterFunc(10*time.Second, stopEngine)
	close(notify)
	if eerr := <-engineDone; eerr != nil && err == nil {
		err = eerr
	}
	s.log.Info("feeds stopped")
	return err
}

// batch is what one flush writes: the feeds' kafkaconn.Batch.
type batch struct {
	s    *Service
	conn driver.Conn
	// produced is the oldest and newest Kafka produce time (ms) of the batch.
	produced [2]int64
	rows     map[event.AdminKind]*rows
	dead     deadRows
	n        int
	first    time.Time
}

func (s *Service) newBatch(conn driver.Conn) *batch {
	return &batch{s: s, conn: conn, rows: map[event.AdminKind]*rows{}}
}

// Add decodes and validates a record into the batch (Service.add).
func (b *batch) Add(m kafka.Message) {
	if b.n == 0 {
		b.first = time.Now()
	}
	b.s.add(b, m)
}

// Len is the events of the batch, dead letters included.
func (b *batch) Len() int { return b.n }

// Flush tells the KPI engine which kinds change (before the rows are
// visible), then writes the batch to ClickHouse.
func (b *batch) Flush(ctx context.Context) error {
	kinds := make([]event.AdminKind, 0, len(b.rows))
	for k := range b.rows {
		kinds = append(kinds, k)
	}
	b.s.engine.Flushed(kinds, b.produced[0], b.produced[1])
	return b.s.insert(ctx, b.conn, b)
}

// Reset empties the batch once it is written and committed.
func (b *batch) Reset() { *b = *b.s.newBatch(b.conn) }

// add decodes and validates one record into the batch; an invalid record
// becomes a dead letter with the raw bytes and the reason.
func (s *Service) add(b *batch, m kafka.Message) {
	if t := m.Time.UnixMilli(); b.n == 0 {
		b.produced = [2]int64{t, t}
	} else {
		b.produced = [2]int64{min(b.produced[0], t), max(b.produced[1], t)}
	}
	b.n++
	kind, ok := event.KindOfTopic(m.Topic)
	var ev event.AdminEvent
	var err error
	if !ok {
		err = event.Invalid(event.ReasonUnknownKind, "topic %s is not an administrative feed", m.Topic)
	} else if ev, err = event.DecodeAdmin(kind, m.Value); err == nil {
		// A record without a receive time (a producer writing to Kafka
		// directly) is dated by its Kafka timestamp, which a replay keeps.
		err = event.PrepareAdmin(ev, m.Time.UnixMilli(), event.DefaultAdminLimits)
	}
	if err != nil {
		dl := event.NewDeadLetter("kafka", kafkaconn.RecordSource(m), m.Value, m.Time.UnixMilli(), err)
		b.dead.add(&dl)
		s.m.invalid.WithLabelValues(string(dl.Reason)).Inc()
		return
	}
	r := b.rows[kind]
	if r == nil {
		r = &rows{tab: tables[kind]}
		b.rows[kind] = r
	}
	r.add(ev, m.Partition, m.Offset)
}

// written counts a batch ClickHouse took, before it is committed.
func (s *Service) written(b *batch) {
	for kind, r := range b.rows {
		s.m.rows.WithLabelValues(string(kind)).Add(float64(len(r.vals)))
	}
	s.m.rows.WithLabelValues("dead_letters").Add(float64(len(b.dead.vals)))
	s.log.Debug("administrative events written", "events", b.n, "dead_letters", len(b.dead.vals), "age", time.Since(b.first).Round(time.Millisecond))
}

func (s *Service) insert(ctx context.Context, conn driver.Conn, b *batch) error {
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, r := range b.rows {
		if len(r.vals) == 0 {
			continue
		}
		if err := r.send(ictx, conn, s.ch.Table(r.tab.name)); err != nil {
			return err
		}
	}
	if len(b.dead.vals) > 0 {
		if err := b.dead.send(ictx, conn, s.ch.Table("dead_letters_raw")); err != nil {
			return err
		}
	}
	return nil
}

type metrics struct {
	rows          *prometheus.CounterVec
	invalid       *prometheus.CounterVec
	insertSeconds prometheus.Histogram
	insertErrors  prometheus.Counter
	commitErrors  prometheus.Counter
	readerResets  prometheus.Counter
	lag           *prometheus.GaugeVec
	lagErrors     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_feeds_rows_written_total",
			Help: "Administrative events ClickHouse acknowledged, by kind (dead_letters for rejected ones)."}, []string{"kind"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_feeds_invalid_records_total",
			Help: "Administrative records that failed validation in stream and became dead letters, by reason."}, []string{"reason"}),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_feeds_insert_seconds",
			Help: "Time for ClickHouse to acknowledge a batch of administrative events.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_feeds_insert_errors_total",
			Help: "Failed inserts of administrative events (retried; offsets not committed)."}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_feeds_commit_errors_total",
			Help: "Failed Kafka offset commits of the feed consumer (the batch is replayed and deduplicated)."}),
		readerResets: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_feeds_reader_resets_total",
			Help: "Kafka readers of the feed consumer replaced after failing for 10 s."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_feeds_consumer_lag",
			Help: "Records of each administrative topic (without kafka.topic_prefix) the feed consumer group has not committed, every 5 s."},
			[]string{"topic"}),
		lagErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_feeds_consumer_lag_errors_total",
			Help: "Failed consumer-lag measurements of the feed consumer (the lag gauge keeps its last values)."}),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.invalid, m.insertSeconds, m.insertErrors, m.commitErrors, m.readerResets, m.lag, m.lagErrors)
	}
	return m
}
