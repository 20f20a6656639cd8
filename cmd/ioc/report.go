package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/notify"
	kpireport "github.com/sonla-ioc/ioc/report"
	"github.com/sonla-ioc/ioc/stream/kpi"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// reportCommand is `ioc report -period 2021-H1 -lang vi -format pdf [-out file]`:
// the leadership's report of every KPI tile for a period (report package).
func reportCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	configPath := fs.String("config", os.Getenv("IOC_CONFIG"), "configuration file (YAML)")
	period := fs.String("period", "", "the period: YYYY-MM (2021-06), YYYY-Qn (2021-Q2), YYYY-Hn (2021-H1) or YYYY")
	lang := fs.String("lang", "vi", "language: vi or en")
	format := fs.String("format", "pdf", "pdf, csv or xlsx")
	out := fs.String("out", "", "file to write (default: bao-cao-kpi-PERIOD-LANG.FORMAT in the current directory; - for standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *period == "" {
		return errors.New("-period is required (for example -period 2021-H1)")
	}
	p, err := kpireport.ParsePeriod(*period)
	if err != nil {
		return err
	}
	if err := kpireport.CheckOptions(*lang, *format); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	eng, err := kpi.NewEngine(cfg.Feeds.KPI, cfg.Kafka, cfg.ClickHouse, log, nil)
	if err != nil {
		return err
	}
	idx, err := svcindex.New(cfg.Feeds.KPI.Index, cfg.ClickHouse, conn) // the service index section (QĐ 766), as the tiles score it
	if err != nil {
		return err
	}
	rep, err := kpireport.Build(ctx, kpireport.Source{Engine: eng, Conn: conn, Published: publishedTiles(ctx, cfg.Kafka, log), Index: idx}, p, time.Now())
	if err != nil {
		return err
	}
	name := *out
	if name == "" {
		name = rep.FileName(*lang, *format)
	}
	if name == "-" {
		return rep.Write(stdout, *lang, *format)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("creating the report file: %w", err)
	}
	if err := rep.Write(f, *lang, *format); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d indicators as of %s\n", name, len(rep.Lines), rep.AsOf.Format(time.RFC3339))
	return nil
}

// publishedTiles reads the tiles as published (the compacted tiles topic),
// for the notes of restated figures; none if Kafka does not answer soon.
func publishedTiles(ctx context.Context, kc kafkaconn.Config, log *slog.Logger) []event.Tile {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	got := map[string]event.Tile{}
	done := false
	err := kc.FollowCompacted(cctx, event.TopicKPITiles, func() { done = true; cancel() }, func(m kafka.Message) {
		var t event.Tile
		if len(m.Value) == 0 {
			delete(got, string(m.Key))
		} else if event.UnmarshalTile(m.Value, &t) == nil {
			got[string(m.Key)] = t
		}
	})
	if !done {
		log.Warn("the published tiles could not be read: the report has no notes of restated figures", "err", err)
		return nil
	}
	out := make([]event.Tile, 0, len(got))
	for _, t := range got {
		out = append(out, t)
	}
	return out
}

// reportRoles is the scheduler of reports (section reports:) in the
// dashboard role (dashboard, run) when reports.dir is set.
func reportRoles(cmd string, cfg *Config, log *slog.Logger) ([]role, error) {
	if cfg.Reports.Dir == "" || cmd != "dashboard" && cmd != "run" {
		return nil, nil
	}
	var notifiers []kpireport.Notifier
	if len(cfg.Reports.Channels) > 0 {
		// The report notifier records in notification_log with the
		// notifier's account, as the alerts' notifier does.
		rn, err := notify.NewReports(cfg.Notify, cfg.Reports.Channels, cfg.ClickHouse.ForNotify(), log)
		if err != nil {
			return nil, fmt.Errorf("reports.channels: %w", err)
		}
		notifiers = append(notifiers, rn)
	}
	s, err := kpireport.NewScheduler(cfg.Reports, cfg.ClickHouse.For(chconn.RoleDashboard), cfg.Kafka, log, notifiers...)
	if err != nil {
		return nil, err
	}
	return []role{s}, nil
}
