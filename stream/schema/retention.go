package schema

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
)

// RetentionConfig says how long raw rows and rollups are kept.
type RetentionConfig struct {
	// ReadingsDays keeps sensor_readings_raw rows this many days after their
	// observation time (default 400: a year and a month, for year-on-year
	// comparisons).
	ReadingsDays int `yaml:"readings_days"`
	// DeadLettersDays keeps dead_letters_raw rows this many days after
	// their arrival (default 90).
	DeadLettersDays int `yaml:"dead_letters_days"`
	// RollupsDays keeps the hourly and daily rollups (sensor_hourly_raw,
	// sensor_daily_raw, ward_hourly_raw, ward_daily_raw) this many days
	// after their hour or day (default 1826: five years). It must be at
	// least readings_days: rollups outlive the readings they sum up.
	RollupsDays int `yaml:"rollups_days"`
}

// Defaults fills unset fields.
func (c *RetentionConfig) Defaults() {
	if c.ReadingsDays == 0 {
		c.ReadingsDays = 400
	}
	if c.DeadLettersDays == 0 {
		c.DeadLettersDays = 90
	}
	if c.RollupsDays == 0 {
		c.RollupsDays = 1826
	}
}

// Validate reports settings that cannot work.
func (c *RetentionConfig) Validate() error {
	if c.ReadingsDays < 31 || c.DeadLettersDays < 1 {
		return fmt.Errorf("retention: readings_days %d must be at least 31 (partitions are months) and dead_letters_days %d positive",
			c.ReadingsDays, c.DeadLettersDays)
	}
	if c.RollupsDays < c.ReadingsDays {
		return fmt.Errorf("retention: rollups_days %d is below readings_days %d: the rollups of raw readings still kept would be deleted; raise rollups_days (default 1826, five years)",
			c.RollupsDays, c.ReadingsDays)
	}
	return nil
}

// TTL exists from ClickHouse 19.6; before that, retention drops whole
// monthly partitions.
func supportsTTL(v Version) bool { return v.AtLeast(19, 6) }

// retained is one table under retention: its time column is also what it
// is partitioned by (toYYYYMM of it, in the column's time zone).
type retained struct {
	table, column string
	days          func(RetentionConfig) int
}

var retainedTables = []retained{
	{"sensor_readings_raw", "observed_at", func(c RetentionConfig) int { return c.ReadingsDays }},
	{"dead_letters_raw", "received_at", func(c RetentionConfig) int { return c.DeadLettersDays }},
	{"sensor_hourly_raw", "hour", func(c RetentionConfig) int { return c.RollupsDays }},
	{"sensor_daily_raw", "day", func(c RetentionConfig) int { return c.RollupsDays }},
	{"ward_hourly_raw", "hour", func(c RetentionConfig) int { return c.RollupsDays }},
	{"ward_daily_raw", "day", func(c RetentionConfig) int { return c.RollupsDays }},
}

// ttlStatement sets a table's TTL (servers 19.6 and newer).
func ttlStatement(ch chconn.Config, table, column string, days int) string {
	on := ""
	if ch.Cluster != "" {
		on = " ON CLUSTER " + ch.Cluster
	}
	return fmt.Sprintf("ALTER TABLE %s.%s%s MODIFY TTL %s + INTERVAL %d DAY", ch.Database, table, on, column, days)
}

// monthsToDrop picks the monthly partitions (YYYYMM) whose every day is
// older than the cutoff, in the zone of the partition key.
func monthsToDrop(partitions []string, cutoff time.Time) []string {
	var out []string
	for _, p := range partitions {
		n, err := strconv.Atoi(p)
		if err != nil || n < 197001 || n%100 < 1 || n%100 > 12 {
			continue // not a toYYYYMM partition: leave it alone
		}
		nextMonth := time.Date(n/100, time.Month(n%100)+1, 1, 0, 0, 0, 0, cutoff.Location())
		if !nextMonth.After(cutoff) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

var ttlRE = regexp.MustCompile(`TTL (\w+) \+ toIntervalDay\((\d+)\)`)

// ApplyRetention enforces cfg on the raw tables: on servers with TTL it sets
// (or changes) the tables' TTL, which ClickHouse then applies in the
// background; on older servers (18.16) it drops the monthly partitions that
// lie wholly before the cutoff. It returns what it did (or, with dryRun,
// would do). Run it daily: `ioc retention` (docs/operations.md).
func ApplyRetention(ctx context.Context, conn driver.Conn, ch chconn.Config, cfg RetentionConfig, now time.Time, dryRun bool, log *slog.Logger) ([]string, error) {
	server, err := ServerVersion(conn)
	if err != nil {
		return nil, err
	}
	var actions []string
	do := func(stmt string) error {
		actions = append(actions, stmt)
		if dryRun {
			return nil
		}
		log.Info("retention", "statement", stmt)
		return conn.Exec(ctx, stmt)
	}
	for _, r := range retainedTables {
		days := r.days(cfg)
		if supportsTTL(server) {
			var create string
			if err := conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?", ch.Database, r.table).Scan(&create); err != nil {
				return actions, fmt.Errorf("reading the definition of %s.%s (run `ioc migrate` first): %w", ch.Database, r.table, err)
			}
			if m := ttlRE.FindStringSubmatch(create); m != nil && m[1] == r.column && m[2] == strconv.Itoa(days) {
				continue // already in force; MODIFY TTL again would rewrite every part
			}
			if err := do(ttlStatement(ch, r.table, r.column, days)); err != nil {
				return actions, fmt.Errorf("setting the TTL of %s.%s: %w", ch.Database, r.table, err)
			}
			continue
		}
		rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", ch.Database, r.table)
		if err != nil {
			return actions, fmt.Errorf("listing partitions of %s.%s: %w", ch.Database, r.table, err)
		}
		var parts []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return actions, err
			}
			parts = append(parts, p)
		}
		rows.Close()
		on := ""
		if ch.Cluster != "" {
			on = " ON CLUSTER " + ch.Cluster
		}
		cutoff := now.In(event.Location).AddDate(0, 0, -days)
		for _, p := range monthsToDrop(parts, cutoff) {
			if err := do(fmt.Sprintf("ALTER TABLE %s.%s%s DROP PARTITION %s", ch.Database, r.table, on, p)); err != nil {
				return actions, fmt.Errorf("dropping partition %s of %s.%s: %w", p, ch.Database, r.table, err)
			}
		}
	}
	return actions, nil
}
