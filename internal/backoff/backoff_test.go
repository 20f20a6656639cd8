package backoff

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestPolicyRetriesUntilSuccessAndCountsFailures(t *testing.T) {
	failures, calls := 0, 0
	p := Policy{First: time.Millisecond, Max: 2 * time.Millisecond, OnFailure: func(error) { failures++ }}
	err := p.Retry(context.Background(), quiet, "op", func() error {
		calls++
		if calls < 4 {
			return errors.New("down")
		}
		return nil
	})
	if err != nil || calls != 4 || failures != 3 {
		t.Fatalf("err %v, calls %d, failures %d; want nil, 4, 3", err, calls, failures)
	}
}

func TestPolicyStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	down := errors.New("down")
	calls := 0
	err := Policy{First: time.Hour, Max: time.Hour}.Retry(ctx, quiet, "op", func() error {
		calls++
		cancel()
		return down
	})
	if !errors.Is(err, down) || !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err %v after %d calls; want the failure joined with context.Canceled after 1", err, calls)
	}
}
