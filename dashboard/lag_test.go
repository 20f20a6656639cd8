package dashboard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// The wall's stream lag comes from the brokers, not from a metrics
// registry the dashboard shares with stream: a dashboard running as its own
// process (as in Kubernetes) knows it. Records of the stream group's
// topics that the group has not committed count; a commit brings it down.
func TestStreamLagFromTheBrokers(t *testing.T) {
	kc := kafkatest.Topics(t, "dashlag", 2, event.StoredTopics()...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := kc.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond, MaxAttempts: 10})
	defer w.Close()
	if err := w.WriteMessages(ctx,
		kafka.Message{Topic: kc.Topic(event.TopicReadings), Key: []byte("a"), Value: []byte("{}")},
		kafka.Message{Topic: kc.Topic(event.TopicReadings), Key: []byte("b"), Value: []byte("{}")},
		kafka.Message{Topic: kc.Topic(event.TopicAlerts), Key: []byte("c"), Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	group := kc.TopicPrefix + "stream"
	s := &Service{cfg: Config{StreamGroup: group}, kafka: kc}
	client, release := kc.NewClient(5 * time.Second)
	defer release()
	lagIs := func(want int64) func() (bool, string) {
		return func() (bool, string) {
			n, err := s.streamLag(ctx, client)
			return err == nil && n == want, fmt.Sprintf("lag %d, err %v", n, err)
		}
	}
	testpoll.Eventually(t, 20*time.Second, "3 records not committed by the stream group", lagIs(3))

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, GroupID: group, Topic: kc.Topic(event.TopicAlerts),
		StartOffset: kafka.FirstOffset, MaxWait: time.Second, HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second})
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CommitMessages(ctx, m); err != nil {
		t.Fatal(err)
	}
	testpoll.Eventually(t, 20*time.Second, "the lag down to 2 after the group committed the alert", lagIs(2))
}
