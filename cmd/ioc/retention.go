package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sonla-ioc/ioc/stream/schema"
)

// runRetention applies retention.* to the raw tables once, then runs the
// dedup of the analyst view (run it daily: cron, the Kubernetes CronJob
// ioc-retention, docs/operations.md).
func runRetention(ctx context.Context, cfg *Config, log *slog.Logger, dryRun bool) error {
	cfg.ClickHouse.ReadTimeout = dedupReadTimeout
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
	// Partitions merged so that the analyst view reads them without
	// grouping (stream/schema/dedup.go, docs/clickhouse.md).
	merged, err := schema.Dedup(ctx, conn, cfg.ClickHouse, dryRun, log)
	for _, a := range merged {
		fmt.Printf("%s: %s\n", verb, a)
	}
	actions = append(actions, merged...)
	if err != nil {
		return err
	}
	if len(actions) == 0 {
		fmt.Printf("retention: nothing to do (readings %d days, dead letters %d days, rollups %d days)\n",
			cfg.Retention.ReadingsDays, cfg.Retention.DeadLettersDays, cfg.Retention.RollupsDays)
	}
	return nil
}

// dedupReadTimeout is how long an OPTIMIZE ... FINAL of one month may run:
// the server sends nothing until it is done (8 million rows: seconds on an
// idle 2-core server, minutes on a busy one).
const dedupReadTimeout = 30 * time.Minute

// runDedup merges every partition of sensor_readings_raw that holds more
// than one merged part, so that the analyst view groups only what was
// inserted since (run it every 10 minutes: cron, the Kubernetes CronJob
// ioc-dedup, docs/operations.md).
func runDedup(ctx context.Context, cfg *Config, log *slog.Logger, dryRun bool) error {
	cfg.ClickHouse.ReadTimeout = dedupReadTimeout
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	verb := "applied"
	if dryRun {
		verb = "would apply"
	}
	merged, err := schema.Dedup(ctx, conn, cfg.ClickHouse, dryRun, log)
	for _, a := range merged {
		fmt.Printf("%s: %s\n", verb, a)
	}
	if err == nil && len(merged) == 0 {
		fmt.Println("dedup: nothing to do (every partition is one merged part)")
	}
	return err
}
