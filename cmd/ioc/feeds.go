package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/ingest/adminhttp"
	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

// feedRoles are the roles of the administrative feeds a command runs
// besides its own: the HTTP endpoint with ingest (when ingest.http.listen
// is set), the feed consumer and KPI engine with stream (unless
// feeds.enabled is false).
func feedRoles(cmd string, cfg *Config, log *slog.Logger, reg prometheus.Registerer) ([]role, error) {
	var out []role
	if (cmd == "ingest" || cmd == "run") && cfg.Ingest.HTTP.Listen != "" {
		h, err := adminhttp.New(cfg.Ingest.HTTP, cfg.Kafka, log, reg)
		if err != nil {
			return nil, err
		}
		// Refused posts go to the audit log in ClickHouse (docs/security.md).
		w := audit.New(audit.Config{}, cfg.ClickHouse.For(chconn.RoleIngest), "ingest", log, reg)
		h.Audit = w
		out = append(out, h, auditRole{w})
	}
	if (cmd == "stream" || cmd == "run") && cfg.Feeds.On() {
		f, err := feeds.New(cfg.Feeds, cfg.Kafka, cfg.ClickHouse.For(chconn.RoleStream), log, reg)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// runScenario is `ioc simulate -scenario NAME`.
func runScenario(ctx context.Context, cfg *Config, name string, speed float64, shuffle bool, viaHTTP string, log *slog.Logger) error {
	opts := simulate.ScenarioOptions{Name: name, Speed: speed, Shuffle: shuffle, Seed: 1, HTTPURL: viaHTTP,
		Token: os.Getenv("IOC_INGEST_TOKEN")}
	if viaHTTP != "" && opts.Token == "" {
		return fmt.Errorf("-via-http needs the system's bearer token in IOC_INGEST_TOKEN")
	}
	return simulate.RunScenario(ctx, opts, cfg.Kafka, log)
}

// runKPIs is `ioc kpis [-as-of TIME]`: the tiles computed now from
// ClickHouse with the documented SQL (stream/kpi/sql, docs/kpis.md), as of
// the feeds' newest event or the given time, printed as JSON.
func runKPIs(ctx context.Context, cfg *Config, asOf string, log *slog.Logger) error {
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	eng, err := kpi.NewEngine(cfg.Feeds.KPI, cfg.Kafka, cfg.ClickHouse, log.With("component", "kpi"), nil)
	if err != nil {
		return err
	}
	var t time.Time
	if asOf != "" {
		if t, err = event.ParseAdminTime(asOf); err != nil {
			return fmt.Errorf("-as-of: %w", err)
		}
	} else {
		var ok bool
		if t, ok, err = eng.Watermark(ctx, conn, time.Now()); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("no administrative events in %s yet (try: ioc simulate -scenario h1-2021)", cfg.ClickHouse.Database)
		}
	}
	tiles, err := eng.Compute(ctx, conn, t)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"as_of": t.In(event.Location).Format(time.RFC3339), "tiles": tiles})
}
