// Package stream consumes readings and dead letters from Kafka, validates
// them again, and writes them to ClickHouse in columnar batches bounded by
// rows and age. Kafka offsets are committed only after ClickHouse
// acknowledged the insert, so a crash replays at most the uncommitted batch;
// the ReplacingMergeTree key and the analyst views make replays invisible.
package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/stream/monitor"
	"github.com/sonla-ioc/ioc/stream/rollup"
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
	regf  atomic.Pointer[registry.Follower]
	// rollup computes the hourly and daily aggregates (nil when disabled).
	rollup *rollup.Job
	// wm lowers the analyst view's watermark before readings are inserted.
	wm *schema.Lowerer
}

// New checks the configuration and prepares the role.
func New(cfg Config, kc kafkaconn.Config, ch chconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, kafka: kc, ch: ch, log: log.With("component", "stream"), m: newMetrics(reg), reg: reg}
	s.wm = schema.NewLowerer(ch)
	s.wm.SettleAfter(cfg.SettleAfter)
	if reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ioc_stream_settled",
			Help: "1 when stream inserts only readings it looked up, without lowering the analyst view's watermark (stream.settle_after after its start, a rebalance or a pause); 0 while it lowers it before each batch, and in cluster mode."},
			func() float64 {
				if s.wm.Settled() {
					return 1
				}
				return 0
			}))
	}
	if *cfg.Rollup.Enabled {
		s.rollup = rollup.New(cfg.Rollup, ch, log, reg)
	}
	if cfg.UnsafeCommitBeforeInsert {
		s.log.Warn("stream.unsafe_commit_before_insert is set: offsets are committed BEFORE ClickHouse has the rows, " +
			"a crash LOSES data. This setting exists for the fault suite only; remove it from the configuration")
	}
	return s, nil
}

// Ready reports whether the role is consuming.
func (s *Service) Ready() bool {
	rf := s.regf.Load()
	return s.ready.Load() && rf != nil && rf.Ready()
}

// MonitorReady reports whether the monitor (device status, VN_AQI, alerts)
// follows the live readings; false while it starts or when disabled.
func (s *Service) MonitorReady() bool {
	m := s.mon.Load()
	return m != nil && m.Ready()
}

// Run consumes until ctx is cancelled, then writes and commits what it
// holds before returning.
func (s *Service) Run(ctx context.Context) error {
	conn, err := s.ch.OpenRetry(ctx, s.log)
	if err != nil {
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
		return s.kafka.EnsureTopics(ctx, event.StoredTopics()...)
	}); err != nil {
		return err
	}
	// The live registry (registry_live.go): changes reach the monitor
	// without a restart.
	var mon *monitor.Monitor
	regw := s.kafka.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond})
	s.kafka.LimitMetadata(regw, registry.TopicDevices) // its one topic (metadata.go)
	defer regw.Close()
	rf, err := registryFollower(ctx, s.kafka, s.ch, conn, reg, s.log, s.reg, regw, func(r *registry.Registry) {
		if mon != nil {
			mon.SetRegistry(r)
		}
	})
	if err != nil {
		return nil // shutting down
	}
	s.regf.Store(rf)
	b := s.newBatch(conn)
	defer event.Readings.Join()() // the batch writer decodes once with the monitor (and the wall under `ioc run`)
	gc := &kafkaconn.GroupConsumer{
		Name:       "stream",
		GroupID:    s.cfg.GroupID,
		Topics:     event.StoredTopics(),
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
			Rebalanced:   s.wm.Unsettle,
			Lag:          s.setLag,
			LagFailed:    s.m.lagErrors.Inc,
		},
	}
	var g errgroup.Group
	g.Go(func() error { return gc.Run(ctx, &s.kafka, s.log, s.reg, b) })
	g.Go(func() error { s.wm.WatchPauses(ctx); return nil })
	if *s.cfg.Status.Enabled {
		mon = monitor.New(s.cfg.Status, s.cfg.Alerts, s.kafka, s.ch, reg, s.log, s.reg)
		s.mon.Store(mon)
		g.Go(func() error { return mon.Run(ctx, conn) })
	}
	g.Go(func() error { return rf.Run(ctx) })
	if s.rollup != nil {
		g.Go(func() error { return s.rollup.Run(ctx, conn) })
	}
	s.ready.Store(true)
	s.log.Info("stream running", "group", s.cfg.GroupID, "clickhouse", s.ch.Addr, "database", s.ch.Database,
		"max_rows", s.cfg.MaxRows, "max_age", s.cfg.MaxAge)
	<-ctx.Done()
	s.ready.Store(false)
	err = g.Wait() // the consumer writes and commits what it fetched first
	hits, misses := event.Readings.Stats()
	s.log.Info("stream stopped", "shared_decode_hits", hits, "shared_decode_misses", misses)
	return err
}
