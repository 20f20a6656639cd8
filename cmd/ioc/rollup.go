package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/stream/rollup"
)

// runRollup computes the hourly and daily rollups once, as the stream role
// does every stream.rollup.interval: for a first backfill before stream
// runs, or from cron where stream.rollup.enabled is false.
// -recompute SPAN first computes again the hours of that last span.
func runRollup(ctx context.Context, cfg *Config, log *slog.Logger, recompute time.Duration) error {
	ch := cfg.ClickHouse.For(chconn.RoleStream)
	conn, err := ch.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	start := time.Now()
	job := rollup.New(cfg.Stream.Rollup, ch, log, nil)
	if recompute > 0 {
		n, err := job.Recompute(ctx, conn, start.Add(-recompute), start)
		if err != nil {
			return err
		}
		fmt.Printf("rollups: %d hours of the last %s computed again\n", n, recompute)
	}
	res, err := job.Once(ctx, conn)
	if err != nil {
		return err
	}
	fmt.Printf("rollups: %d closed hours and %d hours with late readings computed in %s; every hour before %s is rolled up\n",
		res.Closed, res.Late, time.Since(start).Round(time.Millisecond), res.DoneThrough.Format(time.DateTime))
	return nil
}
