package kafkaconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// When a partition's reader cannot be positioned, Tail returns the error
// and leaves nothing behind: no reader of an earlier partition still
// reading, no goroutine running until the caller's context ends.
func TestTailPositionFailureLeavesNothingRunning(t *testing.T) {
	c := kafkatest.Topics(t, "kctail", 3, "t")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	defer kafkaconn.SetPositionReader(func(r *kafka.Reader, offset int64) error {
		if calls++; calls == 3 {
			return errors.New("cannot position (test)")
		}
		return r.SetOffset(offset)
	})()
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
