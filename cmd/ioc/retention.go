package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sonla-ioc/ioc/stream/schema"
)

// runRetention applies retention.* to the raw tables once, then merges the
// closed months for the analyst view (run it daily: cron, the Kubernetes
// CronJob ioc-retention, docs/operations.md).
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
	// The closed months, merged once so that the analyst view reads them
	// without FINAL (stream/schema/dedup.go, docs/clickhouse.md).
	merged, err := schema.Dedup(ctx, conn, cfg.ClickHouse, cfg.Ingest.MaxPast, time.Now(), dryRun, log)
	for _, a := range merged {
		fmt.Printf("%s: %s\n", verb, a)
	}
	actions = append(actions, merged...)
	if err != nil {
		return err
	}
	if len(actions) == 0 {
		fmt.Printf("retention: nothing to do (readings %d days, dead letters %d days)\n", cfg.Retention.ReadingsDays, cfg.Retention.DeadLettersDays)
	}
	return nil
}
