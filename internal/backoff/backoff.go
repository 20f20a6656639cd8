// Package backoff retries an operation with capped exponential backoff.
package backoff

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Retry runs f until it succeeds or ctx ends, logging each failure with what
// was being done.
func Retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	wait := 500 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		log.Warn(what+" failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}
