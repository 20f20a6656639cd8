package kafkaconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// sink is a Batch that keeps what it was given in memory; Flush fails
// while failing is set, like a stalled ClickHouse.
type sink struct {
	mu      sync.Mutex
	pending []string
	written map[string]bool
	failing atomic.Bool
}

func (s *sink) Add(m kafka.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, kafkaconn.RecordSource(m))
}

func (s *sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *sink) Flush(context.Context) error {
	if s.failing.Load() {
		return errors.New("clickhouse is stalled (test)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pending {
		s.written[p] = true
	}
	return nil
}

func (s *sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = s.pending[:0]
}

func (s *sink) counts() (pending, written int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), len(s.written)
}

// The group consumer commits only what its sink took: while Flush fails
// nothing is committed (the brokers' lag stays at every record) and every
// failure is retried; once Flush succeeds the lag drops to zero, and the
// consumer-labelled lag gauge says so. At shutdown what was fetched is
// written and committed before Run returns.
func TestGroupConsumerCommitsAfterTheSink(t *testing.T) {
	topics := []string{"a", "b"}
	c := kafkatest.Topics(t, "kcgroup", 3, topics...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := c.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond, MaxAttempts: 10})
	defer w.Close()
	produce := func(from, n int) {
		t.Helper()
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Topic: c.Topic(topics[i%2]), Key: []byte(fmt.Sprint(from + i)), Value: []byte("{}")}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	group := c.TopicPrefix + "group"
	client, release := c.NewClient(10 * time.Second)
	defer release()
	brokerLag := func() (int64, string) {
		lag, err := kafkaconn.GroupLag(ctx, client, group, []string{c.Topic("a"), c.Topic("b")})
		if err != nil {
			return -1, err.Error()
		}
		return lag[c.Topic("a")] + lag[c.Topic("b")], fmt.Sprint(lag)
	}

	old := kafkaconn.LagInterval
	kafkaconn.LagInterval = 100 * time.Millisecond
	defer func() { kafkaconn.LagInterval = old }()
	reg := prometheus.NewRegistry()
	s := &sink{written: map[string]bool{}}
	s.failing.Store(true)
	var insertFailures, written, rebalanced atomic.Int64
	gc := &kafkaconn.GroupConsumer{Name: "test", GroupID: group, Topics: topics, MaxRows: 20, MaxAge: 300 * time.Millisecond, FetchQueue: 100,
		Reader: kafkaconn.ReaderTuning{MinBytes: 1, MaxWait: 200 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second},
		Hooks: kafkaconn.GroupHooks{
			InsertFailed: func(error) { insertFailures.Add(1) },
			Written:      func(int, time.Duration) { written.Add(1) },
			Rebalanced:   func() { rebalanced.Add(1) },
		}}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gc.Run(rctx, &c, slog.New(slog.DiscardHandler), reg, s) }()
	defer func() { stop(); <-done }()

	produce(0, 50)
	testpoll.Eventually(t, 60*time.Second, "flushes failing and retried, nothing committed", func() (bool, string) {
		lag, why := brokerLag()
		_, wr := s.counts()
		return insertFailures.Load() >= 2 && lag == 50 && wr == 0, fmt.Sprintf("failures %d, lag %d (%s), written %d", insertFailures.Load(), lag, why, wr)
	})
	// Joining the group was a new generation: the stage hears of it before
	// it writes (stream writes unsettled then, schema.Lowerer).
	if rebalanced.Load() < 1 {
		t.Error("the consumer joined the group, and its first flush was not told of the rebalance")
	}
	s.failing.Store(false)
	testpoll.Eventually(t, 60*time.Second, "all 50 written and committed", func() (bool, string) {
		lag, why := brokerLag()
		_, wr := s.counts()
		return lag == 0 && wr == 50, fmt.Sprintf("lag %d (%s), written %d", lag, why, wr)
	})
	testpoll.Eventually(t, 30*time.Second, `ioc_kafka_consumer_lag_records{consumer="test"} at 0 for both topics`, func() (bool, string) {
		got := map[string]float64{}
		mfs, err := reg.Gather()
		if err != nil {
			return false, err.Error()
		}
		for _, mf := range mfs {
			if mf.GetName() != "ioc_kafka_consumer_lag_records" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["consumer"] == "test" {
					got[labels["topic"]] = m.GetGauge().GetValue()
				}
			}
		}
		return len(got) == 2 && got["a"] == 0 && got["b"] == 0, fmt.Sprint(got)
	})

	// Shutdown drains: records in the batch are written and committed.
	produce(50, 3)
	testpoll.Eventually(t, 30*time.Second, "3 more records fetched", func() (bool, string) {
		p, wr := s.counts()
		return p+wr >= 53, fmt.Sprintf("pending %d, written %d", p, wr)
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run at shutdown: %v", err)
	}
	done <- nil // for the deferred stop
	if _, wr := s.counts(); wr != 53 {
		t.Fatalf("written after the drain: %d, want 53", wr)
	}
	if lag, why := brokerLag(); lag != 0 {
		t.Fatalf("lag after the drain: %d (%s), want 0", lag, why)
	}
}
