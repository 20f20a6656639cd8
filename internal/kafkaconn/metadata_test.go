package kafkaconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
)

// A writer limited to its topics writes to them, and its Transport keeps
// no other topic: a write elsewhere fails instead of the Transport
// refreshing the metadata of the whole cluster (metadata.go).
func TestLimitMetadataKeepsOnlyTheNamedTopics(t *testing.T) {
	kc := kafkatest.Topics(t, "limitmeta", 1, "mine", "other")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := kc.NewWriter(kafkaconn.WriterOptions{MaxAttempts: 1})
	defer w.Close()
	kc.LimitMetadata(w, "mine")
	if err := w.WriteMessages(ctx, kafka.Message{Topic: kc.Topic("mine"), Value: []byte("x")}); err != nil {
		t.Fatalf("writing to the named topic: %v", err)
	}
	if err := w.WriteMessages(ctx, kafka.Message{Topic: kc.Topic("other"), Value: []byte("x")}); err == nil {
		t.Fatal("a write to a topic not named succeeded: the writer's Transport holds the metadata of other topics")
	}
	client, release := kc.NewTopicsClient(10*time.Second, kc.Topic("mine"))
	defer release()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != kc.Topic("mine") {
		t.Fatalf("the client's metadata holds %d topics; want only %s", len(md.Topics), kc.Topic("mine"))
	}
}
