package kafkaconn

// This file is where a Kafka record of a consumer group is read, batched,
// written (through the stage's Batch) and committed: the sensor stream
// (stream/stream.go) and the administrative feeds (stream/feeds/feeds.go)
// both run a GroupConsumer and supply only their Batch.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/backoff"
)

// Batch is what a stage keeps between two flushes: rows decoded from the
// records, in the stage's own columnar form.
type Batch interface {
	// Add decodes one record into the batch; a record that does not decode
	// becomes a dead letter of the batch, never an error.
	Add(m kafka.Message)
	// Len is the number of rows the batch holds (compared to MaxRows).
	Len() int
	// Flush writes the batch to ClickHouse. It is retried with the insert
	// policy until it succeeds or the drain deadline passes, so it must be
	// safe to call again after a partial failure (the tables deduplicate).
	Flush(ctx context.Context) error
	// Reset empties the batch after it was written and committed.
	Reset()
}

// GroupConsumer reads the topics of a consumer group and writes them in
// batches bounded by rows and age. Offsets are committed only after the
// batch's Flush succeeded, so a crash replays at most the uncommitted batch.
type GroupConsumer struct {
	// Name is the consumer label of the metrics and the logs ("stream",
	// "feeds").
	Name    string
	GroupID string
	// Topics are the short topic names (without kafka.topic_prefix).
	Topics []string
	// A batch is flushed when it holds MaxRows rows, when its first record
	// is MaxAge old, or (IdleFlush > 0) when nothing came for IdleFlush.
	MaxRows   int
	MaxAge    time.Duration
	IdleFlush time.Duration
	// FetchQueue bounds the records fetched and not yet in a batch.
	FetchQueue int
	// Reader tunes the kafka-go group reader.
	Reader ReaderTuning
	// Drain is how long a shutdown may take to write and commit what was
	// fetched (30 s when zero).
	Drain time.Duration
	// ResetAfter is how long fetches may fail before the reader is replaced
	// (10 s when zero).
	ResetAfter time.Duration
	// UnsafeCommitBeforeInsert commits the batch being built before it is
	// written: the deliberate bug of stream.unsafe_commit_before_insert,
	// for the fault suite only.
	UnsafeCommitBeforeInsert bool
	// Hooks and the stage's own metrics (all optional).
	Hooks GroupHooks
}

// ReaderTuning is what differs between the groups' readers.
type ReaderTuning struct {
	MinBytes         int
	MaxWait          time.Duration // the broker's wait (ReaderMaxWait is applied)
	ReadBackoffMin   time.Duration
	ReadBackoffMax   time.Duration
	SessionTimeout   time.Duration // 10 s when zero
	RebalanceTimeout time.Duration // 10 s when zero
}

// GroupHooks let a stage keep its metrics and react to a written batch.
type GroupHooks struct {
	// InsertFailed is called for every failed Flush (then retried).
	InsertFailed func(error)
	// Written is called once a batch is in ClickHouse, before its offsets
	// are committed, with how long the successful Flush took.
	Written func(rows int, took time.Duration)
	// CommitFailed is called when committing offsets failed (the batch is
	// replayed and deduplicated).
	CommitFailed func(error)
	// ReaderReplaced is called when a failing reader was replaced.
	ReaderReplaced func()
	// Rebalanced is called before a flush when the reader joined a new
	// generation of the group (a rebalance: partitions may have changed
	// hands, and a former owner may still be writing what this consumer
	// reads again) or reconnected to a partition's new leader since the
	// last flush.
	Rebalanced func()
	// Lag receives each topic's lag (by short name) at every measurement;
	// LagFailed is called for every failed measurement.
	Lag       func(map[string]int64)
	LagFailed func()
}

// LagInterval is how often the consumer lag is measured (a variable for
// the tests).
var LagInterval = 5 * time.Second

// consumerMetrics are shared by every GroupConsumer of a registry.
type consumerMetrics struct {
	lag       *prometheus.GaugeVec
	lagErrors *prometheus.CounterVec
	resets    *prometheus.CounterVec
	commits   *prometheus.CounterVec
}

func registerConsumerMetrics(reg prometheus.Registerer) *consumerMetrics {
	m := &consumerMetrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_kafka_consumer_lag_records",
			Help: "Records of a topic the consumer group has not committed (end offsets minus the group's commits, from the brokers every 5 s), by consumer (stream, feeds) and topic (without kafka.topic_prefix)."},
			[]string{"consumer", "topic"}),
		lagErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_kafka_consumer_lag_errors_total",
			Help: "Failed consumer-lag measurements (the lag gauges keep their last values), by consumer."}, []string{"consumer"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_kafka_consumer_reader_resets_total",
			Help: "Kafka group readers replaced after failing, by consumer."}, []string{"consumer"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_kafka_consumer_commits_total",
			Help: "Offset commits after a written batch, by consumer and result (ok, error)."}, []string{"consumer", "result"}),
	}
	if reg == nil {
		return m
	}
	m.lag = registerOrReuse(reg, m.lag)
	m.lagErrors = registerOrReuse(reg, m.lagErrors)
	m.resets = registerOrReuse(reg, m.resets)
	m.commits = registerOrReuse(reg, m.commits)
	return m
}

// registerOrReuse registers c, or returns the collector registered before
// under the same name (two consumers of one process share the vectors).
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(err)
	}
	return c
}

// insertRetry is how a batch insert is retried until ClickHouse takes it
// (offsets stay uncommitted meanwhile): 200 ms after the first failure,
// doubling up to 5 s.
func insertRetry(failed func(error)) backoff.Policy {
	return backoff.Policy{First: 200 * time.Millisecond, Max: 5 * time.Second, OnFailure: failed}
}

func (gc *GroupConsumer) defaults() {
	if gc.Drain == 0 {
		gc.Drain = 30 * time.Second
	}
	if gc.ResetAfter == 0 {
		gc.ResetAfter = 10 * time.Second
	}
	if gc.Reader.SessionTimeout == 0 {
		gc.Reader.SessionTimeout = 10 * time.Second
	}
	if gc.Reader.RebalanceTimeout == 0 {
		gc.Reader.RebalanceTimeout = 10 * time.Second
	}
	if gc.Reader.MaxWait == 0 {
		gc.Reader.MaxWait = time.Second
	}
	if gc.Reader.MinBytes == 0 {
		gc.Reader.MinBytes = 1
	}
}

// newReader makes the group reader; commits are synchronous and issued by
// the consumer after the batch was written.
func (gc *GroupConsumer) newReader(c *Config, log *slog.Logger) *kafka.Reader {
	full := make([]string, len(gc.Topics))
	for i, t := range gc.Topics {
		full[i] = c.Topic(t)
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:               c.Brokers,
		GroupID:               gc.GroupID,
		GroupTopics:           full,
		Dialer:                c.Dialer(),
		QueueCapacity:         1000,
		MinBytes:              gc.Reader.MinBytes,
		MaxBytes:              8 << 20,
		MaxWait:               ReaderMaxWait(gc.Reader.MaxWait),
		ReadBatchTimeout:      2 * time.Second,
		ReadBackoffMin:        gc.Reader.ReadBackoffMin,
		ReadBackoffMax:        gc.Reader.ReadBackoffMax,
		CommitInterval:        0, // synchronous commits, issued after the insert
		StartOffset:           kafka.FirstOffset,
		WatchPartitionChanges: true, // a topic served late, or grown, triggers a rebalance
		HeartbeatInterval:     min(3*time.Second, gc.Reader.SessionTimeout/3),
		SessionTimeout:        gc.Reader.SessionTimeout,
		RebalanceTimeout:      gc.Reader.RebalanceTimeout,
		JoinGroupBackoff:      time.Second,
		ErrorLogger:           kafka.LoggerFunc(func(msg string, args ...any) { log.Debug("kafka reader: " + fmt.Sprintf(msg, args...)) }),
	})
}

// Run consumes into b until ctx ends, then writes and commits what was
// fetched (within Drain) and returns. The topics must exist
// (EnsureTopics). reg receives the consumer-labelled metrics.
func (gc *GroupConsumer) Run(ctx context.Context, c *Config, log *slog.Logger, reg prometheus.Registerer, b Batch) error {
	gc.defaults()
	m := registerConsumerMetrics(reg)
	var reader atomic.Pointer[kafka.Reader]
	reader.Store(gc.newReader(c, log))
	defer func() { reader.Load().Close() }()

	fetched := make(chan kafka.Message, gc.FetchQueue)
	// The writer keeps running after ctx ends, to flush what was fetched.
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	var g errgroup.Group
	g.Go(func() error {
		defer close(fetched)
		gc.fetch(ctx, c, log, m, &reader, fetched)
		return nil
	})
	g.Go(func() error { return gc.write(drainCtx, log, m, &reader, fetched, b) })
	g.Go(func() error { gc.watchLag(ctx, c, log, m); return nil })
	<-ctx.Done()
	timer := time.AfterFunc(gc.Drain, cancelDrain)
	defer timer.Stop()
	return g.Wait()
}

// fetch hands fetched records to the writer. kafka-go's group reader can
// be left failing for good after the broker was disrupted (every fetch
// answers "context canceled" or "Not Leader For Partition"); a reader that
// has failed for ResetAfter is replaced by a new one, which rejoins the
// group and fetches again from the last commit (a replay, deduplicated).
func (gc *GroupConsumer) fetch(ctx context.Context, c *Config, log *slog.Logger, m *consumerMetrics, reader *atomic.Pointer[kafka.Reader], fetched chan<- kafka.Message) {
	var failingSince time.Time
	for {
		msg, err := reader.Load().FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) > gc.ResetAfter {
				log.Warn("the kafka reader keeps failing; replacing it (uncommitted records are fetched again)", "err", err,
					"failing_for", time.Since(failingSince).Round(time.Second))
				old := reader.Swap(gc.newReader(c, log))
				_ = old.Close()
				m.resets.WithLabelValues(gc.Name).Inc()
				if gc.Hooks.ReaderReplaced != nil {
					gc.Hooks.ReaderReplaced()
				}
				failingSince = time.Time{}
				continue
			}
			log.Warn("fetching from kafka", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			continue
		}
		failingSince = time.Time{}
		select {
		case fetched <- msg:
		case <-ctx.Done():
			return // not committed: fetched again after restart
		}
	}
}

type topicPartition struct {
	topic     string
	partition int
}

// write fills b from fetched records and flushes it by size and age. It
// returns when fetched is closed and the last batch is committed.
func (gc *GroupConsumer) write(ctx context.Context, log *slog.Logger, m *consumerMetrics, reader *atomic.Pointer[kafka.Reader], fetched <-chan kafka.Message, b Batch) error {
	last := map[topicPartition]kafka.Message{} // newest message per partition: what to commit
	var first, lastAdd time.Time
	tick := max(gc.MaxAge/4, 5*time.Millisecond)
	if gc.IdleFlush > 0 {
		tick = min(tick, gc.IdleFlush)
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	flush := func() error {
		if len(last) == 0 {
			return nil
		}
		if err := gc.flush(ctx, log, m, reader.Load(), b, last); err != nil {
			return err
		}
		clear(last)
		return nil
	}
	for {
		select {
		case msg, ok := <-fetched:
			if !ok {
				return flush()
			}
			if len(last) == 0 {
				first = time.Now()
			}
			lastAdd = time.Now()
			b.Add(msg)
			last[topicPartition{msg.Topic, msg.Partition}] = msg
			if b.Len() >= gc.MaxRows {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-ticker.C:
			if gc.UnsafeCommitBeforeInsert && len(last) > 0 {
				_ = reader.Load().CommitMessages(ctx, offsets(last)...)
			}
			if len(last) > 0 && (time.Since(first) >= gc.MaxAge ||
				gc.IdleFlush > 0 && len(fetched) == 0 && time.Since(lastAdd) >= gc.IdleFlush) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
}

func offsets(last map[topicPartition]kafka.Message) []kafka.Message {
	msgs := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		msgs = append(msgs, m)
	}
	return msgs
}

// flush writes the batch, retrying until ClickHouse takes it (or the drain
// deadline gives up), then commits the offsets and resets the batch.
func (gc *GroupConsumer) flush(ctx context.Context, log *slog.Logger, m *consumerMetrics, reader *kafka.Reader, b Batch, last map[topicPartition]kafka.Message) error {
	n := b.Len()
	if gc.Hooks.Rebalanced != nil && reader.Stats().Rebalances > 0 {
		gc.Hooks.Rebalanced()
	}
	var start time.Time
	if err := insertRetry(gc.Hooks.InsertFailed).Retry(ctx, log,
		fmt.Sprintf("writing a batch of %d rows to clickhouse (offsets not committed)", n), func() error {
			start = time.Now()
			return b.Flush(ctx)
		}); err != nil {
		return fmt.Errorf("writing a batch of %d rows to clickhouse at shutdown (not committed; replayed at next start): %w", n, err)
	}
	if gc.Hooks.Written != nil {
		gc.Hooks.Written(n, time.Since(start))
	}
	if err := reader.CommitMessages(ctx, offsets(last)...); err != nil {
		// After a rebalance the partition may belong to another member,
		// which replays from the last commit; the replay is deduplicated.
		m.commits.WithLabelValues(gc.Name, "error").Inc()
		if gc.Hooks.CommitFailed != nil {
			gc.Hooks.CommitFailed(err)
		}
		log.Warn("committing offsets failed; the batch will be replayed and deduplicated", "err", err)
	} else {
		m.commits.WithLabelValues(gc.Name, "ok").Inc()
	}
	b.Reset()
	return nil
}

// watchLag measures the group's lag from the brokers every LagInterval.
func (gc *GroupConsumer) watchLag(ctx context.Context, c *Config, log *slog.Logger, m *consumerMetrics) {
	WatchGroupLag(ctx, *c, log, gc.GroupID, gc.Topics, LagInterval, LagGauges{
		Set: func(lag map[string]int64) {
			for name, n := range lag {
				m.lag.WithLabelValues(gc.Name, name).Set(float64(n))
			}
			if gc.Hooks.Lag != nil {
				gc.Hooks.Lag(lag)
			}
		},
		Failed: func() {
			m.lagErrors.WithLabelValues(gc.Name).Inc()
			if gc.Hooks.LagFailed != nil {
				gc.Hooks.LagFailed()
			}
		},
	})
}

// RecordSource names a record for a dead letter: topic/partition/offset.
func RecordSource(m kafka.Message) string {
	return m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
}
