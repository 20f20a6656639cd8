// Command iocanalystbench measures the analyst view at a year's scale
// (issue 19, `make bench-analyst`): it generates a year of readings shaped
// like the real table (2,000 devices, five metrics, four wards, a share
// redelivered) with INSERT ... SELECT FROM system.numbers, runs the
// scheduled dedup (schema.Dedup, as `ioc retention` does), then runs each
// documented example query through the view ioc.sensor_readings and on the
// raw table, and prints both times and their ratio (best of -runs), in the
// two states stream leaves the view in: settled (steady ingestion: each
// batch looked up, nothing grouped) and unsettled (after a restart or a
// rebalance: the watermark lowered before each batch).
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
	"github.com/sonla-ioc/ioc/stream/schema"
)

//go:embed sql/*.sql
var sqlFS embed.FS

// query is one documented example: the same file (sql/query_*.sql) through
// the view and on the raw table ({{raw .Table}}).
type query struct{ name, doc, file string }

var queries = []query{
	{"hourly PM2.5 per ward, last 24 h", "README", "query_hourly_pm25_24h.sql"},
	{"one device, all its readings", "README", "query_one_device.sql"},
	{"mean per metric, last 7 days", "docs/clickhouse.md", "query_mean_per_metric_7d.sql"},
	{"monthly PM2.5 per ward, whole year", "docs/clickhouse.md", "query_monthly_pm25_year.sql"},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "iocanalystbench:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := os.Getenv("IOC_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	flagAddr := flag.String("addr", addr, "ClickHouse native address(es), comma-separated")
	db := flag.String("db", "ioc_analystbench", "database to create and fill (dropped at the end unless -keep)")
	rows := flag.Int64("rows", 100_000_000, "readings to generate (a year's worth, before duplicates)")
	dupPct := flag.Int("dup-pct", 2, "percent of readings delivered twice")
	runs := flag.Int("runs", 3, "runs per query and table; the best is reported")
	keep := flag.Bool("keep", false, "keep the database (a second run with -keep reuses its rows)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx := context.Background()

	ch := chconn.Config{Addr: strings.Split(*flagAddr, ","), Database: *db}
	ch.Defaults()
	ch.ReadTimeout = time.Hour // 2 million-row inserts and month merges on a busy box
	set, err := sqltmpl.Parse(sqlFS, &ch, nil, "sql/*.sql")
	if err != nil {
		return err
	}
	conn, err := ch.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !*keep {
		defer func() {
			for _, d := range []string{*db, ch.SecurityDatabase()} {
				if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+d); err != nil {
					log.Warn("dropping the bench database: drop it by hand", "database", d, "err", err)
				}
			}
		}()
	}
	server, err := schema.ServerVersion(conn)
	if err != nil {
		return err
	}
	// A fresh table every run: the state measured is the one between two
	// dedup runs, which a second run would not find again.
	for _, d := range []string{*db, ch.SecurityDatabase()} {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+d); err != nil {
			return err
		}
	}
	if err := schema.Migrate(ctx, conn, ch, log); err != nil {
		return err
	}
	// Slots: every device and metric reports once per slot (10,000 readings).
	end := time.Now().Truncate(time.Hour)
	slots := max(*rows/10_000, 3)
	step := int64(365*86400) / slots
	first := end.Unix() - 365*86400
	// What arrives between two runs of `ioc dedup` (every 10 minutes): the
	// readings of 10 minutes at this rate (at least 1,000), the first of
	// the last slot.
	tail := *rows - 10_000
	arrived := max(10_000*600/step, 1_000)
	if err := generate(ctx, conn, set, 0, tail, first, step, log); err != nil {
		return err
	}
	if err := redeliver(ctx, conn, set, 0, math.MaxInt64, *dupPct); err != nil {
		return err
	}
	start := time.Now()
	merged, err := schema.Dedup(ctx, conn, ch, false, log)
	if err != nil {
		return err
	}
	fmt.Printf("ClickHouse %s; first dedup: %d partitions merged in %s\n", server, len(merged), time.Since(start).Round(time.Second))
	// 18.16 pushes the WHERE into the view only with this setting (the
	// accounts' profiles set it; the default from 19.x on).
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"enable_optimize_predicate_expression": 1}))
	now := fmt.Sprintf("toDateTime(%d)", end.Unix())
	batches := &slotBatches{conn: conn, set: set, first: first, step: step, log: log}

	// Steady ingestion: a settled stream (WatermarkGrace after its start,
	// no rebalance since) looks each batch up, leaves out the copies
	// already stored (here the dupPct % delivered twice) and inserts the
	// rest without lowering the view's watermark (stream/batch.go
	// prepareReadings). Two batches of 10 minutes, a dedup run between.
	settled := schema.NewLowerer(ch)
	settled.SetClock(func() time.Time { return time.Now().Add(schema.WatermarkGrace) })
	full, err := batches.lookup(ctx, settled, tail-10_000, tail, 100)
	if err != nil {
		return err
	}
	var left int
	for k := int64(0); k < 2; k++ {
		from := tail + k*arrived
		if err := generate(ctx, conn, set, from, from+arrived, first, step, log); err != nil {
			return err
		}
		again, err := batches.lookup(ctx, settled, from, from+arrived, *dupPct)
		if err != nil {
			return err
		}
		left += again.found
		if k == 0 {
			if _, err := schema.Dedup(ctx, conn, ch, false, log); err != nil {
				return err
			}
		}
	}
	if err := printState(ctx, conn, set, *db); err != nil {
		return err
	}
	fmt.Printf("\nSteady ingestion (a settled stream): 10 minutes of readings (%d, one every %d s per device and metric) inserted before a dedup run and 10 minutes after it; "+
		"%d redelivered copies looked up and left out. A settled stream's lookup of a batch of %d readings (every device and metric once) took %s on this table:\n\n",
		arrived, step, left, full.keys, full.took.Round(100*time.Microsecond))
	if err := runQueries(qctx, conn, set, now, *runs, log); err != nil {
		return err
	}

	// After a restart or a rebalance the stream is unsettled for
	// WatermarkGrace: it lowers the watermark before each batch and inserts
	// what is not stored below it, copies included. The next dedup run
	// merges the month, but the writer's rows of the last minutes hold the
	// watermark below its newest reading: the grouped half cannot skip the
	// month's base by its time range until those rows expire.
	unsettled := schema.NewLowerer(ch)
	from := tail + 2*arrived
	lastSlotMs := (first + from/10_000*step) * 1000
	if err := unsettled.Cover(ctx, conn, lastSlotMs-(schema.WatermarkGrace+schema.WatermarkGrace/2).Milliseconds()); err != nil {
		return err
	}
	if err := generate(ctx, conn, set, from, from+arrived, first, step, log); err != nil {
		return err
	}
	if err := redeliver(ctx, conn, set, lastSlotMs, math.MaxInt64, *dupPct); err != nil {
		return err
	}
	if _, err := schema.Dedup(ctx, conn, ch, false, log); err != nil {
		return err
	}
	if err := printState(ctx, conn, set, *db); err != nil {
		return err
	}
	fmt.Printf("\nUnsettled (the 5 minutes after a stream restart or a rebalance), right after the next dedup run: the writer's rows hold the watermark below the newest merged reading:\n\n")
	return runQueries(qctx, conn, set, now, *runs, log)
}

// printState prints the table's rows, its rows through the view, the
// view's watermark and the newest reading of the merged bases.
func printState(ctx context.Context, conn driver.Conn, set *sqltmpl.Set, db string) error {
	counts, err := set.Render("counts.sql", nil)
	if err != nil {
		return err
	}
	var total, distinct uint64
	if err := conn.QueryRow(ctx, counts).Scan(&total, &distinct); err != nil {
		return err
	}
	q, err := set.Render("steady_state.sql", map[string]any{"DB": db})
	if err != nil {
		return err
	}
	var wm, baseMax time.Time
	if err := conn.QueryRow(ctx, q).Scan(&wm, &baseMax); err != nil {
		return fmt.Errorf("reading the watermark and the newest merged reading: %w", err)
	}
	grouped := "nothing grouped"
	if !wm.After(baseMax) {
		grouped = "the grouped half reads the merged month"
	}
	fmt.Printf("\n%d raw rows, %d through the view; watermark %s, newest merged reading %s (%s)\n",
		total, distinct, wm.UTC().Format(time.DateTime), baseMax.UTC().Format(time.DateTime), grouped)
	return nil
}

// runQueries prints the table: each documented query on the raw table and
// through the view, best of runs, and the ratio.
func runQueries(ctx context.Context, conn driver.Conn, set *sqltmpl.Set, now string, runs int, log *slog.Logger) error {
	fmt.Println("| query (where documented) | raw table | view | view / raw |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for _, q := range queries {
		var best [2]time.Duration
		var n [2]int
		// Raw and view alternate, so that the load of a shared machine
		// weighs on both alike.
		for r := 0; r < runs; r++ {
			for i, t := range []string{"sensor_readings_raw", "sensor_readings"} {
				sql, err := set.Render(q.file, map[string]any{"Table": t, "Now": now})
				if err != nil {
					return err
				}
				d, rows, err := timeQuery(ctx, conn, sql)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", q.name, t, err)
				}
				if r == 0 || d < best[i] {
					best[i] = d
				}
				n[i] = rows
			}
		}
		fmt.Printf("| %s (%s) | %s | %s | %.2f |\n", q.name, q.doc, ms(best[0]), ms(best[1]), float64(best[1])/float64(best[0]))
		if n[0] != n[1] {
			log.Info("result rows differ (the raw table counts duplicates)", "query", q.name, "raw", n[0], "view", n[1])
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

// timeQuery runs a query to its last row.
func timeQuery(ctx context.Context, conn driver.Conn, sql string) (time.Duration, int, error) {
	start := time.Now()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return time.Since(start), n, rows.Err()
}

// generate inserts readings from to to (slot i/10,000 at first + slot ×
// step), 2 million per insert (sql/generate.sql).
func generate(ctx context.Context, conn driver.Conn, set *sqltmpl.Set, from, to, first, step int64, log *slog.Logger) error {
	const chunk = 2_000_000
	for off := from; off < to; off += chunk {
		n := min(chunk, to-off)
		start := time.Now()
		q, err := set.Render("generate.sql", map[string]any{"Off": off, "N": n, "First": first, "Step": step})
		if err != nil {
			return err
		}
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("generating readings %d–%d: %w", off, off+n, err)
		}
		log.Info("generated", "rows", off+n, "of", to, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// slotBatches reads the keys of generated readings back as a stream
// batch would carry them (sql/batch_keys.sql).
type slotBatches struct {
	conn        driver.Conn
	set         *sqltmpl.Set
	first, step int64
	log         *slog.Logger
}

// looked is what a settled writer's lookup of one batch found.
type looked struct {
	keys, found int
	took        time.Duration
}

// lookup runs the settled writer's lookup (schema.Lowerer.StoredAll) on
// pct percent of the generated readings from to to.
func (sb *slotBatches) lookup(ctx context.Context, writer *schema.Lowerer, from, to int64, pct int) (looked, error) {
	q, err := sb.set.Render("batch_keys.sql", map[string]any{"Off": from, "N": to - from, "First": sb.first, "Step": sb.step, "Pct": pct})
	if err != nil {
		return looked{}, err
	}
	rows, err := sb.conn.Query(ctx, q)
	if err != nil {
		return looked{}, fmt.Errorf("reading a batch's keys: %w", err)
	}
	var partner, device, metric []string
	var observed []int64
	for rows.Next() {
		var p, d, m string
		var ms int64
		if err := rows.Scan(&p, &d, &m, &ms); err != nil {
			rows.Close()
			return looked{}, err
		}
		partner, device, metric, observed = append(partner, p), append(device, d), append(metric, m), append(observed, ms)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return looked{}, err
	}
	start := time.Now()
	stored, err := writer.StoredAll(ctx, sb.conn, partner, device, metric, observed)
	if err != nil {
		return looked{}, err
	}
	l := looked{keys: len(observed), took: time.Since(start)}
	for _, s := range stored {
		if s {
			l.found++
		}
	}
	sb.log.Info("settled lookup", "keys", l.keys, "stored", l.found, "took", l.took)
	return l, nil
}

// redeliver inserts again dupPct percent of the readings observed in
// [fromMs, toMs): redeliveries, same key and values (sql/redeliver.sql).
func redeliver(ctx context.Context, conn driver.Conn, set *sqltmpl.Set, fromMs, toMs int64, dupPct int) error {
	q, err := set.Render("redeliver.sql", map[string]any{"FromMs": fromMs, "ToMs": toMs, "DupPct": dupPct})
	if err != nil {
		return err
	}
	if err := conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("generating redeliveries: %w", err)
	}
	return nil
}
