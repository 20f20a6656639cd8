package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// The stream role end to end on the local Kafka and ClickHouse: just
// started (and told of its group's first generation) it writes unsettled,
// lowering the analyst view's watermark; once settled, redelivered
// readings and a reading sent twice reach Kafka and are left out by the
// lookup, nothing lowers the watermark, and the view and the raw table
// both hold each reading once.
func TestSettledStreamThroughKafka(t *testing.T) {
	kc := kafkatest.Topics(t, "settled", 3, event.TopicReadings)
	ch, conn := chtest.Migrated(t, "ioc_streamkafka", schema.Migrate)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	off := false
	cfg := Config{GroupID: kc.TopicPrefix + "stream", MaxAge: 200 * time.Millisecond}
	cfg.Status.Enabled, cfg.Rollup.Enabled = &off, &off
	s, err := New(cfg, kc, ch, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var ahead atomic.Int64 // the writer's clock: moved on to settle it
	s.wm.SetClock(func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	testpoll.Eventually(t, 60*time.Second, "stream ready", func() (bool, string) { return s.Ready(), "not ready" })

	w := kc.NewWriter(kafkaconn.WriterOptions{Topic: event.TopicReadings, Linger: 5 * time.Millisecond, MaxAttempts: 10})
	defer w.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	send := func(devices ...string) {
		t.Helper()
		msgs := make([]kafka.Message, len(devices))
		for i, d := range devices {
			r := event.Reading{Partner: "vnpt", DeviceID: d, Metric: "pm25", Kind: event.KindNumber, Value: 1,
				ObservedMs: base.UnixMilli(), ReceivedMs: time.Now().UnixMilli(), TimeFromSource: true}
			r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
			v, err := event.MarshalReading(&r)
			if err != nil {
				t.Fatal(err)
			}
			msgs[i] = kafka.Message{Key: []byte(d), Value: v}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	raw := func() uint64 { return rowCount(ctx, t, conn, ch.Database+".sensor_readings_raw") }
	writerRows := func() uint64 {
		return rowCount(ctx, t, conn, ch.Database+".analyst_watermark WHERE source = 'writer'")
	}
	first := []string{"aq-1", "aq-2", "aq-3", "aq-4"}
	send(first...)
	testpoll.Eventually(t, 60*time.Second, "the first readings stored", func() (bool, string) {
		n := raw()
		return n == 4, fmt.Sprintf("%d rows", n)
	})
	if writerRows() == 0 || s.wm.Settled() {
		t.Fatalf("a stream that just joined its group wrote %d watermark rows and is settled=%v: want a row, unsettled", writerRows(), s.wm.Settled())
	}
	unsettled := testutil.ToFloat64(s.m.unsettled)

	ahead.Store(int64(2 * schema.WatermarkGrace))
	testpoll.Eventually(t, 10*time.Second, "the stream settled", func() (bool, string) { return s.wm.Settled(), "unsettled" })
	rows := writerRows()
	send("aq-1", "aq-2", "aq-5", "aq-6", "aq-6") // two redelivered, one new reading sent twice
	testpoll.Eventually(t, 60*time.Second, "the new readings stored", func() (bool, string) {
		n, view := raw(), rowCount(ctx, t, conn, ch.Database+".sensor_readings")
		return n >= 6 && view == 6, fmt.Sprintf("%d raw rows, %d through the view", n, view)
	})
	if n := raw(); n != 6 {
		t.Errorf("a settled stream stored %d raw rows for 6 readings: it inserted a copy", n)
	}
	if got := writerRows(); got != rows {
		t.Errorf("a settled stream wrote %d watermark rows", got-rows)
	}
	if got := testutil.ToFloat64(s.m.unsettled); got != unsettled {
		t.Errorf("ioc_stream_unsettled_batches_total went from %v to %v while settled", unsettled, got)
	}
	if got := testutil.ToFloat64(s.m.alreadyStored); got < 2 {
		t.Errorf("ioc_stream_readings_already_stored_total = %v, want at least the 2 redelivered readings", got)
	}
}
