package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
	"github.com/sonla-ioc/ioc/stream/schema"
)

const deadLetterUsage = `ioc deadletter — see and repair rejected input (<db>.dead_letters)

  ioc deadletter list   [-config f] [-reason R] [-since T] [-until T] [-id ID,...] [-limit 50]
        counts by reason, then the newest matching dead letters (text escaped)
  ioc deadletter replay [-config f] [-reason R] [-since T] [-until T] [-id ID,...] [-limit 1000] [-dry-run] [-note text]
        re-decodes each chosen MQTT dead letter with this binary's decoder and configuration
        (ingest.partners, registry, limits; times judged against the original receipt), produces
        what now passes to the readings topic with its deterministic event id (a replay never
        doubles a reading), and records every attempt in <db>.dead_letter_replays.

T is RFC 3339 (2026-11-24T21:00:00+07:00) or a duration back from now (24h).
At least one of -reason, -id, -since is required for replay.
`

// dlFilter chooses dead letters.
type dlFilter struct {
	reason       string
	ids          []string
	since, until time.Time
	limit        int
}

func deadLetterCommand(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprint(out, deadLetterUsage)
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" {
			return nil
		}
		return fmt.Errorf("unknown deadletter command %q", args[0])
	}
	fs := flag.NewFlagSet("deadletter "+args[0], flag.ContinueOnError)
	configPath := fs.String("config", os.Getenv("IOC_CONFIG"), "configuration file (YAML)")
	reason := fs.String("reason", "", "only this reason code (e.g. implausible_value)")
	ids := fs.String("id", "", "only these dead-letter ids (dl_id), comma-separated")
	since := fs.String("since", "", "received at or after (RFC 3339, or a duration back from now: 24h)")
	until := fs.String("until", "", "received before (RFC 3339, or a duration back from now)")
	limit := fs.Int("limit", 0, "at most this many (list: 50, replay: 1000)")
	dryRun := fs.Bool("dry-run", false, "replay: decode and report, produce and record nothing")
	note := fs.String("note", "", "replay: a note recorded with each attempt (the fix, a ticket)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	now := time.Now()
	f := dlFilter{reason: *reason, limit: *limit}
	var err error
	if f.since, err = parseWhen(*since, now); err != nil {
		return fmt.Errorf("-since: %w", err)
	}
	if f.until, err = parseWhen(*until, now); err != nil {
		return fmt.Errorf("-until: %w", err)
	}
	for _, id := range strings.Split(*ids, ",") {
		if id = strings.TrimSpace(id); id != "" {
			f.ids = append(f.ids, id)
		}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	if args[0] == "list" {
		if f.limit == 0 {
			f.limit = 50
		}
		return listDeadLetters(ctx, cfg, f, out)
	}
	if f.reason == "" && len(f.ids) == 0 && f.since.IsZero() {
		return errors.New("replay: choose what to replay with -reason, -id or -since (ioc deadletter list shows what there is)")
	}
	if f.limit == 0 {
		f.limit = 1000
	}
	operator := os.Getenv("USER")
	_, err = replayDeadLetters(ctx, cfg, f, *dryRun, operator, *note, out, log)
	return err
}

// parseWhen reads RFC 3339 or a duration back from now; "" is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-11-24T21:00:00+07:00) nor a duration (24h)", s)
	}
	return t, nil
}

// where renders the filter as a WHERE clause with positional arguments.
func (f dlFilter) where() (string, []any) {
	conds, args := []string{"1"}, []any{}
	if f.reason != "" {
		conds, args = append(conds, "reason = ?"), append(args, f.reason)
	}
	if len(f.ids) > 0 {
		conds, args = append(conds, "has(?, dl_id)"), append(args, f.ids)
	}
	if !f.since.IsZero() {
		conds, args = append(conds, "received_ms >= ?"), append(args, f.since.UnixMilli())
	}
	if !f.until.IsZero() {
		conds, args = append(conds, "received_ms < ?"), append(args, f.until.UnixMilli())
	}
	return strings.Join(conds, " AND "), args
}

//go:embed sql/*.sql
var sqlFS embed.FS

// dlSQL is sql/deadletter_*.sql for one configuration, parsed once per
// command.
type dlSQL struct {
	db  string
	set *sqltmpl.Set
}

func newDLSQL(cfg *Config) (dlSQL, error) {
	set, err := sqltmpl.Parse(sqlFS, &cfg.ClickHouse, nil, "sql/deadletter_*.sql")
	return dlSQL{db: cfg.ClickHouse.Database, set: set}, err
}

// query renders one of the files for a filter's conditions.
func (d dlSQL) query(name, where string, limit int) (string, error) {
	return d.set.Render(name, map[string]any{"DB": d.db, "Where": where, "Limit": limit})
}

func listDeadLetters(ctx context.Context, cfg *Config, f dlFilter, out io.Writer) error {
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	view := cfg.ClickHouse.Database + ".dead_letters"
	where, args := f.where()
	tmpl, err := newDLSQL(cfg)
	if err != nil {
		return err
	}
	q, err := tmpl.query("deadletter_reasons.sql", where, f.limit)
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading %s: %w (is the schema migrated? ioc migrate)", view, err)
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tCOUNT\tNEWEST (Asia/Ho_Chi_Minh)")
	for rows.Next() {
		var reason string
		var n uint64
		var newest int64
		if err := rows.Scan(&reason, &n, &newest); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", reason, n, time.UnixMilli(newest).In(event.Location).Format("2006-01-02 15:04:05"))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	tw.Flush()
	fmt.Fprintln(out)
	if q, err = tmpl.query("deadletter_list.sql", where, f.limit); err != nil {
		return err
	}
	rows, err = conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", view, err)
	}
	defer rows.Close()
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DL_ID\tRECEIVED\tREASON\tTOPIC\tDETAIL\tRAW")
	for rows.Next() {
		var id, reason, topic, detail, raw string
		var ms int64
		if err := rows.Scan(&id, &ms, &reason, &topic, &detail, &raw); err != nil {
			return err
		}
		// %q: a dead letter may hold CR/LF, ANSI escapes or binary bytes;
		// they are shown escaped, never interpreted by the terminal.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%q\t%q\t%q\n", id, time.UnixMilli(ms).In(event.Location).Format("2006-01-02 15:04:05"),
			reason, topic, clip(detail, 120), clip(raw, 120))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return tw.Flush()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// replayResult counts what a replay did.
type replayResult struct {
	Chosen, Replayed, StillInvalid, Skipped, Readings int
}

func replayDeadLetters(ctx context.Context, cfg *Config, f dlFilter, dryRun bool, operator, note string, out io.Writer, log *slog.Logger) (replayResult, error) {
	var res replayResult
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if !dryRun {
		// The replay table is new (040): make sure it exists.
		if err := schema.Migrate(ctx, conn, cfg.ClickHouse, log); err != nil {
			return res, fmt.Errorf("migrating clickhouse schema: %w", err)
		}
	}
	// The decoder of the ingest role, with this configuration: a fix is a
	// new binary (decoder, plausibility table) or new settings (partners,
	// registry, limits).
	in, err := ingest.New(cfg.Ingest, cfg.Kafka, log, nil)
	if err != nil {
		return res, err
	}
	view := cfg.ClickHouse.Database + ".dead_letters"
	where, args := f.where()
	tmpl, err := newDLSQL(cfg)
	if err != nil {
		return res, err
	}
	q, err := tmpl.query("deadletter_replay.sql", where, f.limit)
	if err != nil {
		return res, err
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", view, err)
	}
	type attempt struct {
		id, outcome, reason, detail, oldReason, topic string
		eventIDs                                      []string
	}
	var attempts []attempt
	var records []kafka.Message
	topic := cfg.Kafka.Topic(event.TopicReadings)
	for rows.Next() {
		var id, source, srcTopic, reason, detail, raw string
		var ms int64
		if err := rows.Scan(&id, &ms, &source, &srcTopic, &reason, &detail, &raw); err != nil {
			rows.Close()
			return res, err
		}
		res.Chosen++
		a := attempt{id: id, oldReason: reason, topic: srcTopic}
		if source != "mqtt" {
			// Records stream rejected from Kafka: their producer must resend.
			res.Skipped++
			a.outcome, a.detail = "skipped", "source "+source+": only MQTT dead letters can be re-decoded"
			attempts = append(attempts, a)
			continue
		}
		if strings.Contains(detail, event.TruncatedNote) {
			// Only a prefix was kept: decoding it would replay something
			// other than what was sent.
			res.Skipped++
			a.outcome, a.detail = "skipped", "only the first bytes of this payload were kept; the partner must resend it"
			attempts = append(attempts, a)
			continue
		}
		readings, err := in.Decode(srcTopic, []byte(raw), time.UnixMilli(ms))
		if err != nil {
			res.StillInvalid++
			a.outcome = "still_invalid"
			var ve *event.ValidationError
			if errors.As(err, &ve) {
				a.reason, a.detail = string(ve.Reason), ve.Detail
			} else {
				a.detail = err.Error()
			}
		} else {
			res.Replayed++
			res.Readings += len(readings)
			a.outcome = "replayed"
			for i := range readings {
				val, err := event.MarshalReading(&readings[i])
				if err != nil {
					rows.Close()
					return res, err
				}
				records = append(records, kafka.Message{Topic: topic, Key: []byte(readings[i].DeviceID), Value: val})
				a.eventIDs = append(a.eventIDs, readings[i].ID)
			}
		}
		attempts = append(attempts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	for _, a := range attempts {
		fmt.Fprintf(out, "%s\t%s\t%s -> %s %q\n", a.id, a.outcome, a.oldReason, a.reason, clip(a.detail, 120))
	}
	fmt.Fprintf(out, "chosen %d: replayed %d (%d readings), still invalid %d, skipped %d%s\n",
		res.Chosen, res.Replayed, res.Readings, res.StillInvalid, res.Skipped, map[bool]string{true: " (dry run: nothing produced or recorded)"}[dryRun])
	if dryRun || len(attempts) == 0 {
		return res, nil
	}
	if len(records) > 0 {
		w := cfg.Kafka.NewWriter(kafkaconn.WriterOptions{Linger: 10 * time.Millisecond, BatchSize: 256, MaxAttempts: 10})
		if err := cfg.Kafka.EnsureTopics(ctx, event.TopicReadings); err != nil {
			return res, err
		}
		err := w.WriteMessages(ctx, records...)
		w.Close()
		if err != nil {
			return res, fmt.Errorf("producing %d replayed readings to %s: %w (nothing recorded; run the replay again)", len(records), topic, err)
		}
	}
	now := time.Now()
	insert, err := tmpl.query("deadletter_replays_insert.sql", "", 0)
	if err != nil {
		return res, err
	}
	batch, err := conn.PrepareBatch(ctx, insert)
	if err != nil {
		return res, fmt.Errorf("recording the replay: %w", err)
	}
	defer batch.Abort()
	for _, a := range attempts {
		if a.eventIDs == nil {
			a.eventIDs = []string{}
		}
		if err := batch.Append(a.id, now, now.UnixMilli(), a.outcome, a.reason, a.detail, a.oldReason, a.topic, a.eventIDs, operator, note); err != nil {
			return res, fmt.Errorf("recording the replay: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return res, fmt.Errorf("recording the replay (the readings were produced; a second replay is harmless): %w", err)
	}
	return res, nil
}
