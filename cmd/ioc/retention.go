package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sonla-ioc/ioc/stream/schema"
)

// runRetention applies retention.* to the raw tables once (run it daily:
// cron, the Kubernetes CronJob ioc-retention, docs/operations.md).
func runRetention(ctx context.Context, cfg *Config, log *slog.Logger, dryRun bool) error {
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	actions, err := schema.ApplyRetention(ctx, conn, cfg.ClickHouse, cfg.Retention, time.Now(), dryRun, log)
	verb := "applied"
	if dryRun {
		verb = "would apply"
	}
	for _, a := range actions {
		fmt.Printf("%s: %s\n", verb, a)
	}
	if err != nil {
		return err
	}
	if len(actions) == 0 {
		fmt.Printf("retention: nothing to do (readings %d days, dead letters %d days, rollups %d days)\n",
			cfg.Retention.ReadingsDays, cfg.Retention.DeadLettersDays, cfg.Retention.RollupsDays)
	}
	return nil
}
