package rollup_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/rollup"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// serverNow is ClickHouse's clock, in Unix seconds.
func serverNow(t *testing.T, conn driver.Conn) int64 {
	t.Helper()
	var now uint32
	if err := conn.QueryRow(context.Background(), "SELECT toUInt32(now())").Scan(&now); err != nil {
		t.Fatal(err)
	}
	return int64(now)
}

// insert writes count numeric pm25 readings of device dev (or devices
// dev-0 … dev-99 when count > 1) into sensor_readings_raw in one insert
// (one part per month), observed from at (Unix seconds) on, a second
// apart within the hour.
func insert(t *testing.T, conn driver.Conn, ch chconn.Config, dev string, at int64, count int, value float64) {
	t.Helper()
	q := fmt.Sprintf("INSERT INTO %s (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms, ward) "+
		"SELECT concat('%s-', toString(number), '-%d'), 'vnpt', if(%d = 1, '%s', concat('%s-', toString(number %% 100))), 'pm25', "+
		"CAST('number' AS Enum8('number' = 1, 'string' = 2, 'bool' = 3)), %g, toDateTime(%d + number %% 3600), (%d + number %% 3600) * 1000, 'Chiềng Lề' "+
		"FROM system.numbers LIMIT %d",
		ch.Table("sensor_readings_raw"), dev, at, count, dev, dev, value, at, at, count)
	if err := conn.Exec(context.Background(), q); err != nil {
		t.Fatalf("inserting readings: %v", err)
	}
}

// hourly is the hourly rollup of device dev at hour h: readings and max.
func hourly(t *testing.T, conn driver.Conn, ch chconn.Config, dev string, h int64) (n uint64, mx float64) {
	t.Helper()
	err := conn.QueryRow(context.Background(), "SELECT readings, max_value FROM "+ch.Database+
		".sensor_hourly WHERE device_id = ? AND metric = 'pm25' AND hour = toDateTime(?)", dev, h).Scan(&n, &mx)
	if err != nil {
		t.Fatalf("hourly rollup of %s at %s: %v", dev, time.Unix(h, 0), err)
	}
	return n, mx
}

// Readings that arrive after a run, observed before every hour it
// computed (one 20 days back, one the hour before the first), are rolled
// up by the next run, even when a merge put them in a part with older
// rows before it ran; a redelivered reading is still counted once.
func TestLateReadingOlderThanTheLastRunIsRolledUp(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_rollup_late", schema.Migrate)
	ctx := context.Background()
	now := serverNow(t, conn)
	hour := now - now%3600
	h1 := hour - 3*3600
	insert(t, conn, ch, "aq-a", h1+60, 1, 5)
	job := rollup.New(rollup.Config{}, ch, slog.New(slog.DiscardHandler), nil)
	res, err := job.Once(ctx, conn)
	if err != nil || res.Closed != 3 {
		t.Fatalf("first run: %+v %v, want the 3 closed hours since h1", res, err)
	}

	old, h0 := hour-20*24*3600, h1-3600
	insert(t, conn, ch, "aq-b", old+120, 1, 42)
	insert(t, conn, ch, "aq-c", h0+60, 1, 7)
	insert(t, conn, ch, "aq-a", h1+60, 1, 5) // redelivered
	if err := conn.Exec(ctx, "OPTIMIZE TABLE "+ch.Table("sensor_readings_raw")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	res, err = job.Once(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if res.Late < 3 || res.Closed != 0 {
		t.Errorf("second run: %+v, want the hours of aq-b, aq-c and aq-a computed again, no new hour", res)
	}
	for _, c := range []struct {
		dev string
		h   int64
		max float64
	}{{"aq-b", old, 42}, {"aq-c", h0, 7}, {"aq-a", h1, 5}} {
		if n, mx := hourly(t, conn, ch, c.dev, c.h); n != 1 || mx != c.max {
			t.Errorf("%s at %s: %d readings, max %v; want 1, %v", c.dev, time.Unix(c.h, 0), n, mx, c.max)
		}
	}
}

// A run after the first reads, to find late readings, the parts written
// since the last run, not the late window: 200,000 readings 40 days old,
// rolled up before, are not read again for one late reading.
func TestLateReadingsReadOnlyWhatChangedSinceTheLastRun(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_rollup_bound", schema.Migrate)
	ctx := context.Background()
	now := serverNow(t, conn)
	hour := now - now%3600
	const bulk = 200_000
	insert(t, conn, ch, "aq-bulk", hour-40*24*3600, bulk, 3)
	inserted := serverNow(t, conn)
	// The next run looks at what was inserted since the last run minus
	// inserted_margin (1s): let the clock pass it, so that the bulk is
	// before it.
	testpoll.Eventually(t, 10*time.Second, "server clock 2s past the bulk insert", func() (bool, string) {
		n := serverNow(t, conn)
		return n >= inserted+2, fmt.Sprint(n - inserted)
	})
	job := rollup.New(rollup.Config{LateWindow: 100 * 24 * time.Hour, InsertedMargin: time.Second, ChunkHours: 744}, ch,
		slog.New(slog.DiscardHandler), nil)
	if _, err := job.Once(ctx, conn); err != nil {
		t.Fatal(err)
	}

	late := hour - 2*3600
	insert(t, conn, ch, "aq-late", late+60, 1, 9)
	logged := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1}))
	res, err := job.Once(logged, conn)
	if err != nil {
		t.Fatal(err)
	}
	if res.Late != 1 {
		t.Errorf("second run: %+v, want the late reading's hour computed again", res)
	}
	if n, mx := hourly(t, conn, ch, "aq-late", late); n != 1 || mx != 9 {
		t.Errorf("late reading's hour: %d readings, max %v; want 1, 9", n, mx)
	}

	// What the run's search for late readings read (system.query_log).
	var read uint64
	var queries uint64
	testpoll.Eventually(t, 30*time.Second, "the search for late readings in system.query_log", func() (bool, string) {
		if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			return false, err.Error()
		}
		err := conn.QueryRow(ctx, "SELECT count(), max(read_rows) FROM system.query_log WHERE toUInt8(type) = 2 AND "+
			"query LIKE '%DISTINCT toUInt32(toStartOfHour(observed_at))%' AND position(query, ?) > 0",
			ch.Table("sensor_readings_raw")).Scan(&queries, &read)
		if err != nil {
			return false, err.Error()
		}
		return queries > 0, "no such query logged yet"
	})
	if read >= bulk/10 {
		t.Errorf("the search for late readings read %d rows, want far fewer than the %d already rolled up", read, bulk)
	}
	t.Logf("the search for late readings read %d rows (%d queries)", read, queries)
}
