package feeds

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// ioc_feeds_consumer_lag follows the brokers: records the group has not
// committed count from the log start, and a commit brings the lag down.
// Against the local Kafka (deploy/local/services.sh); skipped without it.
func TestConsumerLagGauge(t *testing.T) {
	brokers := os.Getenv("IOC_KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("IOC_KAFKA_BROKERS is not set (eval \"$(deploy/local/services.sh env)\")")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), TopicPrefix: "feedslag" + run + "."}
	kc.Defaults()
	topics := event.AdminTopics()
	if err := kc.EnsureTopics(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kc.DeleteTopicsWithPrefix(context.Background())
	})
	dossiers := kc.Topic(event.AdminTopic(event.KindDossier))
	w := kc.NewWriter(kafkaconn.WriterOptions{Topic: event.AdminTopic(event.KindDossier), Linger: time.Millisecond, MaxAttempts: 10})
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("a"), Value: []byte("{}")}, kafka.Message{Key: []byte("b"), Value: []byte("{}")},
		kafka.Message{Key: []byte("c"), Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	s, err := New(Config{GroupID: "feedslag-" + run}, kc, chconn.Config{}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		kafkaconn.WatchGroupLag(wctx, kc, s.log, s.cfg.GroupID, topics, 50*time.Millisecond,
			kafkaconn.LagGauges{Set: s.setLag, Failed: s.m.lagErrors.Inc})
	}()
	// lags reads ioc_feeds_consumer_lag from the registry, by topic.
	lags := func() map[string]float64 {
		out := map[string]float64{}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "ioc_feeds_consumer_lag" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "topic" {
						out[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			}
		}
		return out
	}
	dossierTopic := event.AdminTopic(event.KindDossier)
	testpoll.Eventually(t, 20*time.Second, "3 records of the dossier topic not committed, every topic measured", func() (bool, string) {
		l := lags()
		return l[dossierTopic] == 3 && len(l) == len(topics), fmt.Sprint(l)
	})

	// The group reads two records and commits them.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, GroupID: "feedslag-" + run, Topic: dossiers, StartOffset: kafka.FirstOffset,
		MaxWait: time.Second, HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second})
	defer r.Close()
	for i := 0; i < 2; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	testpoll.Eventually(t, 20*time.Second, "the lag down to 1 after the commit", func() (bool, string) {
		l := lags()
		return l[dossierTopic] == 1, fmt.Sprint(l)
	})
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watchLag did not stop with its context")
	}
}
