package stream

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// TestConsumerLagWhilePaused runs the stream's lag gauges against the
// local Kafka: a group member fetches everything but commits nothing (as
// the stream does while ClickHouse is stalled), so the reader itself sees
// no lag, yet the gauge shows every record and grows as more arrive; once
// the member commits, the gauge drops to what is left.
func TestConsumerLagWhilePaused(t *testing.T) {
	brokers := os.Getenv("IOC_KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("IOC_KAFKA_BROKERS is not set: this test needs the local Kafka (eval \"$(deploy/local/services.sh env)\")")
	}
	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), Partitions: 3,
		TopicPrefix: fmt.Sprintf("lagtest%d.", time.Now().UnixNano())}
	kc.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names := []string{event.TopicReadings, event.TopicDeadLetter, event.TopicDeviceStatus, event.TopicAlerts}
	if err := kc.EnsureTopics(ctx, names...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kc.DeleteTopicsWithPrefix(context.Background())
	})
	topic := kc.Topic(event.TopicReadings)
	w := kc.NewWriter(kafkaconn.WriterOptions{Topic: event.TopicReadings, Balancer: &kafka.RoundRobin{}, Linger: 10 * time.Millisecond, MaxAttempts: 10})
	defer w.Close()
	produce := func(n int) {
		t.Helper()
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Value: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}

	s := &Service{cfg: Config{GroupID: kc.TopicPrefix + "group"}, kafka: kc, log: slog.New(slog.DiscardHandler),
		m: newMetrics(prometheus.NewRegistry())}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		kafkaconn.WatchGroupLag(wctx, kc, s.log, s.cfg.GroupID, names, 300*time.Millisecond,
			kafkaconn.LagGauges{Set: s.setLag, Failed: s.m.lagErrors.Inc})
	}()
	defer func() { stop(); <-done }()
	waitLag := func(what string, want float64) {
		t.Helper()
		testpoll.Eventually(t, 30*time.Second, what, func() (bool, string) {
			got, topic := gaugeValue(t, s.m.lag), gaugeValue(t, s.m.topicLag.WithLabelValues(event.TopicReadings))
			return got == want && topic == want, fmt.Sprintf("ioc_stream_consumer_lag = %v (readings %v), want %v", got, topic, want)
		})
	}

	produce(40)
	waitLag("40 records, no member yet", 40)

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, GroupID: s.cfg.GroupID, GroupTopics: []string{topic},
		Dialer: kc.Dialer(), StartOffset: kafka.FirstOffset, CommitInterval: 0, MaxWait: 200 * time.Millisecond,
		HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second, JoinGroupBackoff: 200 * time.Millisecond})
	defer r.Close()
	var fetched []kafka.Message
	for len(fetched) < 40 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetching: %v", err)
		}
		fetched = append(fetched, m)
	}
	// Consumption is paused: everything fetched, nothing committed.
	waitLag("40 fetched, none committed", 40)
	produce(25)
	waitLag("25 more while nothing commits", 65)

	if err := r.CommitMessages(ctx, fetched...); err != nil {
		t.Fatal(err)
	}
	waitLag("the 40 committed", 25)
}

func gaugeValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatalf("%s is neither a gauge nor a counter", c.Desc())
	return 0
}
