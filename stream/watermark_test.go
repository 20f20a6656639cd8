package stream

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// Stream's flush lowers the analyst view's watermark before it inserts
// readings (130_analyst_watermark.sql): a reading of a month `ioc dedup`
// merged, delivered again by a restarted stream (a batch re-sent after a
// crash, a replay, a late reading), shows once through sensor_readings.
func TestFlushKeepsAnalystViewExact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, conn := chtest.Migrated(t, "ioc_streamwm", schema.Migrate)
	log := slog.New(slog.DiscardHandler)
	observed := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Second)
	flush := func(stage string) {
		t.Helper()
		// A new Service each time: a restarted stream, its Lowerer fresh.
		s, err := New(Config{}, kafkaconn.Config{}, ch, log, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		r := event.Reading{Partner: "vnpt", DeviceID: "aq-1", Metric: "pm25", Kind: event.KindNumber, Value: 42,
			ObservedMs: observed.UnixMilli(), ReceivedMs: time.Now().UnixMilli(), TimeFromSource: true}
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
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM "+ch.Database+".sensor_readings").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: the analyst view shows the reading %d times, want once", stage, n)
		}
	}
	flush("first delivery")
	if _, err := schema.Dedup(ctx, conn, ch, false, log); err != nil {
		t.Fatal(err)
	}
	flush("delivered again into the merged month")
	var low time.Time
	if err := conn.QueryRow(ctx, "SELECT min(grouped_from) FROM "+ch.Database+".analyst_watermark WHERE source = 'writer'").Scan(&low); err != nil {
		t.Fatal(err)
	}
	if low.After(observed) {
		t.Errorf("stream's row in analyst_watermark groups from %s, after the reading it inserted (%s)", low, observed)
	}
}
