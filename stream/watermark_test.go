package stream

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// Stream's flush lowers the analyst view's watermark before it inserts
// readings (130_analyst_watermark.sql): a late reading of a month `ioc
// dedup` merged shows once through sensor_readings. A reading delivered
// again into that month (a batch re-sent after a crash, a replay) is
// already stored: stream leaves it out instead of lowering the watermark,
// so the view keeps reading the merged month without grouping it.
func TestFlushKeepsAnalystViewExact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, conn := chtest.Migrated(t, "ioc_streamwm", schema.Migrate)
	log := slog.New(slog.DiscardHandler)
	observed := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Second)
	count := func(table string) uint64 { t.Helper(); return rowCount(ctx, t, conn, ch.Database+"."+table) }
	writerLow := func() time.Time { t.Helper(); return groupedFrom(ctx, t, conn, ch.Database, "source = 'writer'") }
	flush := func(stage, metric string, at time.Time) float64 {
		t.Helper()
		// A new Service each time: a restarted stream, its Lowerer fresh.
		reg := prometheus.NewRegistry()
		s, err := New(Config{}, kafkaconn.Config{}, ch, log, reg)
		if err != nil {
			t.Fatal(err)
		}
		r := event.Reading{Partner: "vnpt", DeviceID: "aq-1", Metric: metric, Kind: event.KindNumber, Value: 42,
			ObservedMs: at.UnixMilli(), ReceivedMs: time.Now().UnixMilli(), TimeFromSource: true}
		r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
		v, err := event.MarshalReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		b := s.newBatch(conn)
		b.Add(kafka.Message{Topic: s.kafka.Topic(event.TopicReadings), Value: v})
		if err := b.Flush(ctx); err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		return testutil.ToFloat64(s.m.alreadyStored)
	}
	flush("first delivery", "pm25", observed)
	if n := count("sensor_readings"); n != 1 {
		t.Errorf("first delivery: the analyst view shows the reading %d times, want once", n)
	}
	if _, err := schema.Dedup(ctx, conn, ch, false, log); err != nil {
		t.Fatal(err)
	}
	// The next `ioc dedup`, WatermarkGrace later, deletes the writer's row
	// of the first delivery: the month is then read without grouping.
	if err := conn.Exec(ctx, "ALTER TABLE "+ch.Database+".analyst_watermark DELETE WHERE source = 'writer'"); err != nil {
		t.Fatal(err)
	}
	testpoll.Eventually(t, time.Minute, "the writer's watermark row deleted", func() (bool, string) {
		n := count("analyst_watermark WHERE source = 'writer'")
		return n == 0, fmt.Sprintf("%d writer rows", n)
	})
	if left := flush("delivered again into the merged month", "pm25", observed); left != 1 {
		t.Errorf("ioc_stream_readings_already_stored_total = %v after a re-sent reading, want 1", left)
	}
	if n := count("sensor_readings"); n != 1 {
		t.Errorf("delivered again: the analyst view shows the reading %d times, want once", n)
	}
	if n := count("sensor_readings_raw"); n != 1 {
		t.Errorf("delivered again into the merged month: %d rows in sensor_readings_raw, want 1 (the stored reading is not inserted again)", n)
	}
	if low := writerLow(); !low.IsZero() && low.Unix() > 0 && !low.After(observed) {
		t.Errorf("a re-sent reading lowered the watermark to %s, into the merged month (%s): the view groups it until the next dedup", low, observed)
	}
	late := observed.Add(time.Hour)
	if left := flush("a late reading of the merged month", "pm10", late); left != 0 {
		t.Errorf("ioc_stream_readings_already_stored_total = %v for a new reading, want 0", left)
	}
	if n := count("sensor_readings"); n != 2 {
		t.Errorf("late reading: the analyst view shows %d readings, want 2", n)
	}
	if low := writerLow(); low.After(late) {
		t.Errorf("stream's row in analyst_watermark groups from %s, after the reading it inserted (%s)", low, late)
	}
	flush("the late reading again", "pm10", late)
	if n := count("sensor_readings"); n != 2 {
		t.Errorf("late reading delivered twice: the analyst view shows %d readings, want 2", n)
	}
}

// A settled stream (WatermarkGrace after its start, no rebalance since)
// looks every reading up before it inserts: what is stored, and a key
// repeated in the batch, is left out, and the rest is inserted without
// lowering the analyst view's watermark. So in steady ingestion the view
// groups nothing after `ioc dedup` (its watermark stays 2106) and shows
// each reading once. A retried batch, and a batch after a rebalance, are
// written unsettled: the watermark is lowered first.
func TestSettledFlushLeavesViewUngrouped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, conn := chtest.Migrated(t, "ioc_streamsettled", schema.Migrate)
	log := slog.New(slog.DiscardHandler)
	count := func(table string) uint64 { t.Helper(); return rowCount(ctx, t, conn, ch.Database+"."+table) }
	watermark := func() time.Time { t.Helper(); return groupedFrom(ctx, t, conn, ch.Database, "1") }
	s, err := New(Config{}, kafkaconn.Config{}, ch, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if s.wm.Settled() {
		t.Fatal("a stream that just started is settled: another writer may still be inserting what it reads")
	}
	s.wm.SetClock(func() time.Time { return time.Now().Add(schema.WatermarkGrace) })
	if !s.wm.Settled() {
		t.Fatal("a stream WatermarkGrace after its start, without a rebalance, is not settled")
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	reading := func(device string, minute int) kafka.Message {
		t.Helper()
		r := event.Reading{Partner: "viettel", DeviceID: device, Metric: "pm25", Kind: event.KindNumber, Value: float64(minute),
			ObservedMs: base.Add(time.Duration(minute) * time.Minute).UnixMilli(), ReceivedMs: time.Now().UnixMilli(), TimeFromSource: true}
		r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
		v, err := event.MarshalReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Topic: s.kafka.Topic(event.TopicReadings), Value: v}
	}
	flush := func(stage string, b *batch, msgs ...kafka.Message) {
		t.Helper()
		for _, m := range msgs {
			b.Add(m)
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		b.Reset()
	}
	b := s.newBatch(conn)
	flush("first batch", b, reading("aq-1", 0), reading("aq-2", 0), reading("aq-1", 1), reading("aq-1", 0))
	if n := count("sensor_readings_raw"); n != 3 {
		t.Errorf("first batch (a key twice): %d rows in sensor_readings_raw, want 3 (a settled stream inserts each key once)", n)
	}
	if n := count("analyst_watermark WHERE source = 'writer'"); n != 0 {
		t.Errorf("a settled stream wrote %d rows to analyst_watermark: the view groups what it inserted", n)
	}
	if _, err := schema.Dedup(ctx, conn, ch, false, log); err != nil {
		t.Fatal(err)
	}
	flush("a redelivery and a new reading", b, reading("aq-2", 0), reading("aq-3", 2))
	if left := testutil.ToFloat64(s.m.alreadyStored); left != 1 {
		t.Errorf("ioc_stream_readings_already_stored_total = %v after a redelivered reading, want 1", left)
	}
	if n := count("sensor_readings_raw"); n != 4 {
		t.Errorf("after a redelivery: %d rows in sensor_readings_raw, want 4", n)
	}
	if n := count("sensor_readings"); n != 4 {
		t.Errorf("steady ingestion: the analyst view shows %d readings, want 4", n)
	}
	if w := watermark(); w.Unix() != 4294967295 {
		t.Errorf("steady ingestion: the analyst view groups from %s, want 2106 (nothing grouped: every row is the only copy of its key)", w)
	}

	// A retry: its first attempt may still land, so it is covered.
	b.Add(reading("aq-4", 3))
	b.attempts = 1 // the first attempt failed
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if w, want := watermark(), base.Add(3*time.Minute); w.After(want) {
		t.Errorf("a retried batch: the analyst view groups from %s, after its reading (%s)", w, want)
	}
	// A rebalance: the former owner may still be writing what is read again.
	s.wm.Unsettle()
	if s.wm.Settled() {
		t.Error("a stream that saw a rebalance is settled")
	}
	flush("after a rebalance", b, reading("aq-5", -30), reading("aq-5", -30))
	if w, want := watermark(), base.Add(-30*time.Minute); w.After(want) {
		t.Errorf("after a rebalance: the analyst view groups from %s, after the batch's reading (%s)", w, want)
	}
	if n := testutil.ToFloat64(s.m.unsettled); n != 2 {
		t.Errorf("ioc_stream_unsettled_batches_total = %v, want 2 (the retry, the batch after the rebalance)", n)
	}
	if n := count("sensor_readings"); n != 6 {
		t.Errorf("the analyst view shows %d readings, want 6", n)
	}
}

// rowCount counts the rows of a table (a WHERE may follow its name).
func rowCount(ctx context.Context, t *testing.T, conn driver.Conn, table string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// groupedFrom is the analyst view's watermark over the rows of
// analyst_watermark that match where.
func groupedFrom(ctx context.Context, t *testing.T, conn driver.Conn, db, where string) time.Time {
	t.Helper()
	var w time.Time
	if err := conn.QueryRow(ctx, "SELECT min(grouped_from) FROM "+db+".analyst_watermark WHERE "+where).Scan(&w); err != nil {
		t.Fatal(err)
	}
	return w
}
