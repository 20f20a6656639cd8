package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// When a partition's reader cannot be positioned, Tail returns the error
// and leaves nothing behind: no reader of an earlier partition still
// reading, no goroutine running until the caller's context ends.
func TestTailPositionFailureLeavesNothingRunning(t *testing.T) {
	env := os.Getenv("IOC_KAFKA_BROKERS")
	if env == "" {
		t.Skip(`IOC_KAFKA_BROKERS not set: this test needs the real Kafka (eval "$(deploy/local/services.sh env)")`)
	}
	c := Config{Brokers: strings.Split(env, ","), TopicPrefix: fmt.Sprintf("kctail%d.", time.Now().UnixNano()%1e9), Partitions: 3}
	c.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.EnsureTopics(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client, release := c.NewClient(10 * time.Second)
		defer release()
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{c.Topic("t")}})
	})
	old := positionReader
	defer func() { positionReader = old }()
	calls := 0
	positionReader = func(r *kafka.Reader, offset int64) error {
		if calls++; calls == 3 {
			return errors.New("cannot position (test)")
		}
		return r.SetOffset(offset)
	}
	before := runtime.NumGoroutine()
	err := c.Tail(ctx, slog.New(slog.DiscardHandler), "t", 0, nil, func(kafka.Message) {})
	if err == nil || !strings.Contains(err.Error(), "cannot position") {
		t.Fatalf("Tail = %v, want the positioning error", err)
	}
	// ctx is still live: whatever Tail started must be gone by itself.
	testpoll.Eventually(t, 10*time.Second, "the goroutines of Tail gone while ctx is live", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before Tail", n, before)
	})
}
