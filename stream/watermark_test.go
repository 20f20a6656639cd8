package stream

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

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
	count := func(table string) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+ch.Database+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	writerLow := func() time.Time {
		t.Helper()
		var low time.Time
		if err := conn.QueryRow(ctx, "SELECT min(grouped_from) FROM "+ch.Database+".analyst_watermark WHERE source = 'writer'").Scan(&low); err != nil {
			t.Fatal(err)
		}
		return low
	}
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
