// Package backoff retries an operation with capped exponential backoff.
package backoff

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Retry runs f until it succeeds or ctx ends, logging each failure with what
// was being done; it waits 500 ms after the first failure, doubling up to
// 10 s.
func Retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	return Policy{First: 500 * time.Millisecond, Max: 10 * time.Second}.Retry(ctx, log, what, f)
}

// Policy is a capped exponential backoff: First after the first failure,
// doubling up to Max. OnFailure, if set, is called with every failure
// (metrics).
type Policy struct {
	First, Max time.Duration
	OnFailure  func(error)
}

// Retry runs f until it succeeds or ctx ends, logging each failure with what
// was being done. When ctx ends it returns the last failure joined with
// ctx's error, without waiting.
func (p Policy) Retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	wait := p.First
	for {
		err := f()
		if err == nil {
			return nil
		}
		if p.OnFailure != nil {
			p.OnFailure(err)
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		log.Warn(what+" failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, p.Max)
	}
}
