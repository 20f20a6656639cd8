package schema

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
)

func TestMonthsToDrop(t *testing.T) {
	cutoff := time.Date(2026, 3, 15, 10, 0, 0, 0, event.Location)
	got := monthsToDrop([]string{"202603", "202601", "202602", "202512", "tuple()", "202613"}, cutoff)
	// February ends before the cutoff; March holds days after it.
	if want := []string{"202512", "202601", "202602"}; !slices.Equal(got, want) {
		t.Errorf("monthsToDrop = %v, want %v", got, want)
	}
	// The first of the next month at midnight, in Son La: the boundary.
	if got := monthsToDrop([]string{"202602"}, time.Date(2026, 3, 1, 0, 0, 0, 0, event.Location)); len(got) != 1 {
		t.Errorf("February at cutoff 1 March 00:00: %v, want dropped", got)
	}
	if got := monthsToDrop([]string{"202602"}, time.Date(2026, 2, 28, 23, 59, 0, 0, event.Location)); len(got) != 0 {
		t.Errorf("February at cutoff 28 February 23:59: %v, want kept", got)
	}
}

func TestTTLStatement(t *testing.T) {
	ch := chconn.Config{}
	ch.Defaults()
	if got := ttlStatement(ch, "sensor_readings_raw", "observed_at", 400); got != "ALTER TABLE ioc.sensor_readings_raw MODIFY TTL observed_at + INTERVAL 400 DAY" {
		t.Errorf("single node: %s", got)
	}
	ch.Cluster = "sonla"
	if got := ttlStatement(ch, "dead_letters_raw", "received_at", 90); got != "ALTER TABLE ioc.dead_letters_raw ON CLUSTER sonla MODIFY TTL received_at + INTERVAL 90 DAY" {
		t.Errorf("cluster: %s", got)
	}
	if !supportsTTL(Version{19, 6, 1}) || supportsTTL(Version{18, 16, 1}) {
		t.Error("TTL gate: 19.6 has it, 18.16 not")
	}
	// What the server answers in create_table_query is recognised as in force.
	m := ttlRE.FindStringSubmatch("CREATE TABLE ioc.sensor_readings_raw (...) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(observed_at) ORDER BY (partner) TTL observed_at + toIntervalDay(400) SETTINGS index_granularity = 8192")
	if m == nil || m[1] != "observed_at" || m[2] != "400" {
		t.Errorf("ttlRE: %v", m)
	}
}

// On the local server (18.16: no TTL), retention drops the months older
// than the retention and keeps the rest; a dry run changes nothing.
func TestApplyRetentionOnLocalServer(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_retention", Migrate)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	server, _ := ServerVersion(conn)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, event.Location)
	// Readings 14, 13 and 1 month(s) old; dead letters 4 months and 1 day old.
	for _, at := range []time.Time{now.AddDate(0, -14, 0), now.AddDate(0, -13, -10), now.AddDate(0, -1, 0), now} {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms)")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			ms := at.UnixMilli() + int64(i)
			if err := b.Append(event.ReadingID("vnpt", "d", "m", ms), "vnpt", "d", "m", int8(1), float64(i), at, ms); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []time.Time{now.AddDate(0, -4, 0), now.AddDate(0, 0, -1)} {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".dead_letters_raw (dl_id, received_at, received_ms, source, reason)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(fmt.Sprint(at.Unix()), at, at.UnixMilli(), "mqtt", "not_json"); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	// Rollups 6 and 4 years old: five years' retention keeps the second.
	for _, at := range []time.Time{now.AddDate(-6, 0, 0), now.AddDate(-4, 0, 0)} {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_hourly_raw (device_id, partner, metric, hour, readings)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append("d", "vnpt", "m", at, uint64(1)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	count := func(table string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+ch.Database+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cfg := RetentionConfig{}
	cfg.Defaults()

	actions, err := ApplyRetention(ctx, conn, ch, cfg, now, true, log)
	if err != nil {
		t.Fatal(err)
	}
	if count("sensor_readings_raw") != 40 || count("dead_letters_raw") != 2 {
		t.Fatalf("dry run changed the tables (actions %v)", actions)
	}
	actions, err = ApplyRetention(ctx, conn, ch, cfg, now, false, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server %s: %s", server, strings.Join(actions, "; "))
	if supportsTTL(server) {
		if len(actions) != 6 || !strings.Contains(actions[0], "MODIFY TTL observed_at + INTERVAL 400 DAY") ||
			!strings.Contains(actions[2], "sensor_hourly_raw MODIFY TTL hour + INTERVAL 1826 DAY") {
			t.Errorf("server %s: actions %v, want the six TTLs", server, actions)
		}
		return
	}
	// 400 days before 24 Nov 2026 is 20 Oct 2025: September 2025 (14 months)
	// goes, October 2025 (13 months 10 days, partly newer) stays.
	wantActions := []string{
		"ALTER TABLE " + ch.Database + ".sensor_readings_raw DROP PARTITION 202509",
		"ALTER TABLE " + ch.Database + ".dead_letters_raw DROP PARTITION 202607",
		"ALTER TABLE " + ch.Database + ".sensor_hourly_raw DROP PARTITION 202011",
	}
	if !slices.Equal(actions, wantActions) {
		t.Errorf("actions:\n%s\nwant:\n%s", strings.Join(actions, "\n"), strings.Join(wantActions, "\n"))
	}
	if n := count("sensor_readings_raw"); n != 30 {
		t.Errorf("%d readings left, want 30 (the 14-month-old month dropped)", n)
	}
	if n := count("sensor_hourly_raw"); n != 1 {
		t.Errorf("%d hourly rollups left, want 1 (the 6-year-old one dropped)", n)
	}
	if n := count("dead_letters_raw"); n != 1 {
		t.Errorf("%d dead letters left, want 1", n)
	}
	// Idempotent: nothing more to drop.
	if actions, err := ApplyRetention(ctx, conn, ch, cfg, now, false, log); err != nil || len(actions) != 0 {
		t.Errorf("second run: %v %v, want nothing to do", actions, err)
	}
}
