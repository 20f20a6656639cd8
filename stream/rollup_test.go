package stream

import (
	"context"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/rollup"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// Readings written by the stream's writer, redelivered (each batch sent
// twice, as after a Kafka replay: the duplicates sit in separate parts of
// sensor_readings_raw until a merge), are counted once in every rollup; a
// late reading for an hour already computed is counted when the job runs
// again, with its redelivered neighbours still counted once.
func TestRollupsCountRedeliveredAndLateReadingsOnce(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_rollup", schema.Migrate)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var serverNow uint32
	if err := conn.QueryRow(ctx, "SELECT toUInt32(now())").Scan(&serverNow); err != nil {
		t.Fatal(err)
	}
	// Two closed hours: h1 three hours ago, h2 the one after.
	h1 := (int64(serverNow) - int64(serverNow)%3600 - 3*3600) * 1000
	h2 := h1 + 3600*1000
	rd := func(dev string, ms int64, v float64) *event.Reading {
		return &event.Reading{ID: event.ReadingID("vnpt", dev, "pm25", ms), Partner: "vnpt", DeviceID: dev, Metric: "pm25",
			Kind: event.KindNumber, Value: v, Unit: "ug/m3", ObservedMs: ms, ReceivedMs: ms + 500, TimeFromSource: true,
			Ward: "Chiềng Lề", Registered: true}
	}
	write := func(rs ...*event.Reading) {
		t.Helper()
		var b readingRows
		for i, r := range rs {
			b.add(r, 0, int64(i))
		}
		if err := b.send(ctx, conn, ch.Table("sensor_readings_raw")); err != nil {
			t.Fatal(err)
		}
	}
	// Before any reading: nothing done, and no watermark that would make
	// the readings below look late.
	job := rollup.New(rollup.Config{}, ch, log, nil)
	if res, err := job.Once(ctx, conn); err != nil || !res.Empty || res.Closed != 0 {
		t.Fatalf("run on an empty table: %+v %v, want nothing done", res, err)
	}
	first := []*event.Reading{rd("aq-1", h1+60_000, 1), rd("aq-1", h1+120_000, 2), rd("aq-1", h1+180_000, 3),
		rd("aq-2", h1+90_000, 5), rd("aq-1", h2+60_000, 10)}
	text := rd("aq-1", h1+240_000, 0)
	text.Kind, text.String = event.KindString, "calibrating" // not a number: not in the rollups
	write(append(first, text)...)
	write(first...) // redelivered

	// The duplicates are there: a plain aggregate over inserts would count them twice.
	var rawRows, distinct uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+ch.Table("sensor_readings_raw")).Scan(&rawRows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rawRows != 11 || distinct != 6 {
		t.Fatalf("raw table holds %d rows of %d readings, want 11 of 6 (the redelivery unmerged)", rawRows, distinct)
	}

	res, err := job.Once(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if res.Closed != 3 || res.DoneThrough.Unix() != int64(serverNow)-int64(serverNow)%3600 {
		t.Errorf("first run: %+v, want the 3 closed hours since h1 done, through the current hour", res)
	}
	hour := func(dev string, h int64) (n uint64, mn, mx, mean, last float64) {
		t.Helper()
		err := conn.QueryRow(ctx, "SELECT readings, min_value, max_value, mean_value, last_value FROM "+ch.Database+
			".sensor_hourly WHERE device_id = ? AND metric = 'pm25' AND hour = toDateTime(?)", dev, h/1000).Scan(&n, &mn, &mx, &mean, &last)
		if err != nil {
			t.Fatalf("hourly rollup of %s at %d: %v", dev, h, err)
		}
		return
	}
	check := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	n, mn, mx, mean, last := hour("aq-1", h1)
	check("aq-1 h1 readings", float64(n), 3)
	check("aq-1 h1 min", mn, 1)
	check("aq-1 h1 max", mx, 3)
	check("aq-1 h1 mean", mean, 2)
	check("aq-1 h1 last", last, 3)
	n, _, _, mean, _ = hour("aq-1", h2)
	check("aq-1 h2 readings", float64(n), 1)
	check("aq-1 h2 mean", mean, 10)
	n, _, _, _, _ = hour("aq-2", h1)
	check("aq-2 h1 readings", float64(n), 1)

	ward := func() (devices, n uint64, sum float64) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT devices, readings, mean_value * readings FROM "+ch.Database+
			".ward_hourly WHERE ward = 'Chiềng Lề' AND metric = 'pm25' AND hour = toDateTime(?)", h1/1000).Scan(&devices, &n, &sum); err != nil {
			t.Fatalf("ward rollup: %v", err)
		}
		return
	}
	devices, n, sum := ward()
	check("ward h1 devices", float64(devices), 2)
	check("ward h1 readings", float64(n), 4)
	check("ward h1 sum", sum, 11)
	daily := func() (n uint64, sum float64, mx float64) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT sum(readings), sum(mean_value * readings), max(max_value) FROM "+ch.Database+
			".sensor_daily WHERE device_id = 'aq-1'").Scan(&n, &sum, &mx); err != nil {
			t.Fatalf("daily rollup: %v", err)
		}
		return
	}
	n, sum, _ = daily()
	check("aq-1 daily readings", float64(n), 4)
	check("aq-1 daily sum", sum, 16)

	// A late reading for h1, delivered with h1's readings once more.
	write(append(first, rd("aq-1", h1+3000_000, 7))...)
	res, err = job.Once(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if res.Late < 1 || res.Closed != 0 {
		t.Errorf("second run: %+v, want h1 computed again and no new hour", res)
	}
	n, mn, mx, mean, last = hour("aq-1", h1)
	check("aq-1 h1 readings after the late one", float64(n), 4)
	check("aq-1 h1 min after", mn, 1)
	check("aq-1 h1 max after", mx, 7)
	check("aq-1 h1 mean after", mean, 3.25)
	check("aq-1 h1 last after", last, 7)
	devices, n, sum = ward()
	check("ward h1 devices after", float64(devices), 2)
	check("ward h1 readings after", float64(n), 5)
	check("ward h1 sum after", sum, 18)
	n, sum, mx = daily()
	check("aq-1 daily readings after", float64(n), 5)
	check("aq-1 daily sum after", sum, 23)
	check("aq-1 daily max after", mx, 10)

	// Merged or not, the rollup tables show one row per hour.
	for _, tbl := range []string{"sensor_hourly_raw", "sensor_daily_raw", "ward_hourly_raw", "ward_daily_raw"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+ch.Database+"."+tbl+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	n, _, _, mean, _ = hour("aq-1", h1)
	check("aq-1 h1 readings merged", float64(n), 4)
	check("aq-1 h1 mean merged", mean, 3.25)
	rows := countRows(t, ctx, conn, "SELECT count() FROM "+ch.Database+".sensor_hourly_raw")
	if rows != 3 {
		t.Errorf("%d hourly rows after merging, want 3 (aq-1 h1, h2; aq-2 h1)", rows)
	}

	// A row that reaches the raw table late with an old inserted_at (a
	// shard that was down longer than inserted_margin), in an hour before
	// the first one computed, is not seen by the next run; Recompute (ioc
	// rollup -recompute) counts it.
	h0 := h1 - 3600_000
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Table("sensor_readings_raw")+" (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms, ward, inserted_at)")
	if err != nil {
		t.Fatal(err)
	}
	stale := time.Unix(int64(serverNow), 0).Add(-2 * time.Hour)
	if err := b.Append("stale", "vnpt", "aq-3", "pm25", int8(1), 11.0, time.UnixMilli(h0+600_000), h0+600_000, "Chiềng Lề", stale); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if _, err := job.Once(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, ctx, conn, "SELECT count() FROM "+ch.Database+".sensor_hourly WHERE device_id = 'aq-3'"); n != 0 {
		t.Errorf("aq-3 has %d hourly rows after a run, want none: its stale row is invisible to the watermark", n)
	}
	got, err := job.Recompute(ctx, conn, time.UnixMilli(h0), time.UnixMilli(h1))
	if err != nil || got != 1 {
		t.Errorf("Recompute: %d hours, %v; want h0", got, err)
	}
	n, _, mx, _, _ = hour("aq-3", h0)
	check("aq-3 h0 readings recomputed", float64(n), 1)
	check("aq-3 h0 max recomputed", mx, 11)
	n, _, _, _, _ = hour("aq-1", h1)
	check("aq-1 h1 readings still", float64(n), 4)
}

func countRows(t *testing.T, ctx context.Context, conn driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
