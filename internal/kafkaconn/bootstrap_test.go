package kafkaconn

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// With the first broker of the list down, every call that used to dial
// Brokers[0] alone (partition listing, leader lookups, the compacted-topic
// follower) goes through the next one.
func TestFirstBrokerDownIsPassedOver(t *testing.T) {
	env := os.Getenv("IOC_KAFKA_BROKERS")
	if env == "" {
		t.Skip(`IOC_KAFKA_BROKERS not set: this test needs the real Kafka (eval "$(deploy/local/services.sh env)")`)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	c := Config{Brokers: append([]string{down}, strings.Split(env, ",")...),
		TopicPrefix: fmt.Sprintf("kcboot%d.", time.Now().UnixNano()%1e9), Partitions: 3}
	c.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteTopicsWithPrefix(context.Background())
	})
	ids, err := c.PartitionIDs(ctx, "t")
	if err != nil || len(ids) != 3 {
		t.Fatalf("PartitionIDs with the first broker down: %v, %v", ids, err)
	}
	conn, err := c.DialLeader(ctx, "t", ids[0])
	if err != nil {
		t.Fatalf("DialLeader with the first broker down: %v", err)
	}
	conn.Close()
	// A topic this new may still answer "Not Leader For Partition" for a
	// moment; the roles retry FollowCompacted, and so does the test.
	testpoll.Eventually(t, 30*time.Second, "FollowCompacted caught up with the first broker down", func() (bool, string) {
		fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
		defer fcancel()
		caught := make(chan struct{})
		failed := make(chan error, 1)
		go func() { failed <- c.FollowCompacted(fctx, "t", func() { close(caught) }, func(kafka.Message) {}) }()
		select {
		case <-caught:
			fcancel()
			<-failed
			return true, ""
		case err := <-failed:
			return false, fmt.Sprint(err)
		}
	})
}
