package dashboard

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// BenchmarkWallFlushInterval: the wall model at 10,000 readings/s from
// 10,000 devices (the benchmark's load: unregistered devices, one reading
// per message), flushed every dashboard.flush_interval: 250 readings per
// flush at 25 ms, 100 at 10 ms. One op is one reading and its share of the
// flushes.
func BenchmarkWallFlushInterval(b *testing.B) {
	for _, every := range []time.Duration{25 * time.Millisecond, 10 * time.Millisecond} {
		b.Run(every.String(), func(b *testing.B) {
			s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory", DevOpen: true}},
				kafkaconn.Config{}, chconn.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			defer s.v2.closeAll("bench over")
			perFlush := int(10000 * every.Seconds())
			now := time.Now().UnixMilli()
			rs := make([]event.Reading, 10000)
			for i := range rs {
				rs[i] = event.Reading{Partner: "bench", DeviceID: "sim-" + strconv.Itoa(i), Metric: "pm25", Kind: event.KindNumber,
					Value: 12.5, Unit: "ug/m3", ObservedMs: now, ReceivedMs: now}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := rs[i%len(rs)]
				r.ObservedMs += int64(i / len(rs) * 1000)
				r.ReceivedMs = r.ObservedMs
				s.hub.update(r)
				s.wall.reading(&r)
				if i%perFlush == perFlush-1 {
					s.wall.flush()
				}
			}
		})
	}
}
