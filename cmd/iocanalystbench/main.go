// Command iocanalystbench measures the analyst view at a year's scale
// (issue 19, `make bench-analyst`): it generates a year of readings shaped
// like the real table (2,000 devices, five metrics, four wards, a share
// redelivered) with INSERT ... SELECT FROM system.numbers, runs the
// scheduled dedup (schema.Dedup, as `ioc retention` does), then runs each
// documented example query through the view ioc.sensor_readings and on the
// raw table, and prints both times and their ratio (best of -runs).
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
	fmt.Printf("first dedup: %d partitions merged in %s\n", len(merged), time.Since(start).Round(time.Second))
	// Since that run: 10 minutes of readings, a share of them delivered
	// twice (MQTT redeliveries, partner re-publications). Stream lowers the
	// view's watermark before it inserts (schema.Lowerer); its rows of the
	// last WatermarkGrace before that run are still there, and its clock
	// renews its row every WatermarkGrace/2: the grouped half starts that
	// much before the new readings.
	writer := schema.NewLowerer(ch)
	arrivedMs := (first + tail/10_000*step) * 1000
	if err := writer.Cover(ctx, conn, arrivedMs-(schema.WatermarkGrace+schema.WatermarkGrace/2).Milliseconds()); err != nil {
		return err
	}
	if err := generate(ctx, conn, set, tail, tail+arrived, first, step, log); err != nil {
		return err
	}
	lastSlots := (first + tail/10_000*step) * 1000
	if err := redeliver(ctx, conn, set, lastSlots, math.MaxInt64, *dupPct); err != nil {
		return err
	}
	var total, distinct uint64
	counts, err := set.Render("counts.sql", nil)
	if err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, counts).Scan(&total, &distinct); err != nil {
		return err
	}
	fmt.Printf("ClickHouse %s, %d raw rows, %d through the view\n", server, total, distinct)

	// 18.16 pushes the WHERE into the view only with this setting (the
	// accounts' profiles set it; the default from 19.x on).
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"enable_optimize_predicate_expression": 1}))
	now := fmt.Sprintf("toDateTime(%d)", end.Unix())
	fmt.Printf("\nJust before the next `ioc dedup`: 10 minutes of readings (%d, one every %d s per device and metric) inserted since the last run, %d %% of them twice:\n\n", arrived, step, *dupPct)
	if err := runQueries(qctx, conn, set, now, *runs, log); err != nil {
		return err
	}
	// A batch re-sent after a crash of stream between its insert and its
	// offset commit: the slot before the new ones again, whose first copy
	// is in the merged part. Stream's flush asks schema.Lowerer.Stored
	// which of them are stored already and leaves those out; what is left
	// (none, unless the first copy was lost) is covered and inserted, and
	// the view groups from there until the next dedup run.
	resentFrom, resentTo := (first+(tail/10_000-1)*step)*1000, (first+tail/10_000*step)*1000
	left, kept, err := resend(ctx, conn, set, writer, resentFrom, resentTo)
	if err != nil {
		return err
	}
	fmt.Printf("\nThe same after a crash re-sent one merged slot (%d readings: %d already stored and left out by stream's flush, %d inserted), before the next dedup run:\n\n", left+kept, left, kept)
	if err := runQueries(qctx, conn, set, now, *runs, log); err != nil {
		return err
	}
	start = time.Now()
	merged, err = schema.Dedup(ctx, conn, ch, false, log)
	if err != nil {
		return err
	}
	fmt.Printf("\nnext dedup run (what `ioc dedup` does every 10 minutes): %d partition(s) merged in %s\n", len(merged), time.Since(start).Round(100*time.Millisecond))
	// Steady ingestion: that run merged what arrived into the month's
	// base, but the writers' rows of the last minutes (kept for the
	// grace) hold the watermark below the base's newest reading. A server
	// that receives readings all the time is in this state between every
	// two runs: the grouped half cannot skip the base by its time range.
	q, err := set.Render("steady_state.sql", map[string]any{"DB": *db})
	if err != nil {
		return err
	}
	var wm, baseMax time.Time
	if err := conn.QueryRow(ctx, q).Scan(&wm, &baseMax); err != nil {
		return fmt.Errorf("reading the watermark and the newest merged reading: %w", err)
	}
	fmt.Printf("\nSteady ingestion, right after that run: the watermark (%s) is below the newest reading of the merged base (%s), as the writers' rows of the last minutes keep it:\n\n",
		wm.UTC().Format(time.TimeOnly), baseMax.UTC().Format(time.TimeOnly))
	return runQueries(qctx, conn, set, now, *runs, log)
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

// resend is what stream's flush does with a batch re-sent after a crash
// (stream/batch.go insert): the readings already stored are left out
// (schema.Lowerer.Stored); if any are not, the watermark is lowered and the
// slot inserted again.
func resend(ctx context.Context, conn driver.Conn, set *sqltmpl.Set, writer *schema.Lowerer, fromMs, toMs int64) (left, kept int, err error) {
	q, err := set.Render("slot_keys.sql", map[string]any{"FromMs": fromMs, "ToMs": toMs})
	if err != nil {
		return 0, 0, err
	}
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the re-sent slot: %w", err)
	}
	var partner, device, metric []string
	var observed []int64
	for rows.Next() {
		var p, d, m string
		var ms int64
		if err := rows.Scan(&p, &d, &m, &ms); err != nil {
			rows.Close()
			return 0, 0, err
		}
		partner, device, metric, observed = append(partner, p), append(device, d), append(metric, m), append(observed, ms)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	stored, err := writer.Stored(ctx, conn, partner, device, metric, observed)
	if err != nil {
		return 0, 0, err
	}
	low := int64(math.MaxInt64)
	for i, ms := range observed {
		if stored != nil && stored[i] {
			left++
			continue
		}
		kept++
		low = min(low, ms)
	}
	if kept == 0 {
		return left, 0, nil
	}
	if err := writer.Cover(ctx, conn, low); err != nil {
		return 0, 0, err
	}
	return left, kept, redeliver(ctx, conn, set, fromMs, toMs, 100)
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
