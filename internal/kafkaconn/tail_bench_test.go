package kafkaconn_test

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
)

// BenchmarkTailLatency: one partition of the wall's follower of the
// readings topic at 10,000 readings/s over 6 partitions (1,667 records/s
// of 330 bytes), produced as ingest does (RequireAll, 2 ms linger), read
// by Tail with the wall's fetch settings. It reports the time from the
// write to the follower (p50, p99) and the process's CPU per record (the
// writer's share is the same for every variant). Needs the local Kafka.
func BenchmarkTailLatency(b *testing.B) {
	for _, c := range []struct {
		name     string
		minBytes int
		maxWait  time.Duration
	}{{"16KiB_30ms", 16 << 10, 30 * time.Millisecond}, {"16KiB_15ms", 16 << 10, 15 * time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) {
			kc := kafkatest.Topics(b, "tailbench", 1, "r")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var lat []float64
			got := make(chan struct{}, 1<<16)
			positioned := make(chan struct{})
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			go func() {
				_ = kc.Tail(ctx, log, "r", 0, func() { close(positioned) }, func(m kafka.Message) {
					sent := int64(binary.BigEndian.Uint64(m.Value))
					mu.Lock()
					lat = append(lat, float64(time.Now().UnixNano()-sent)/1e6)
					mu.Unlock()
					got <- struct{}{}
				}, kafkaconn.Batched(c.minBytes, c.maxWait))
			}()
			<-positioned
			w := kc.NewWriter(kafkaconn.WriterOptions{Topic: "r", Linger: 2 * time.Millisecond})
			defer w.Close()
			// Warm up: the writer's metadata and connections, the reader's
			// first fetch.
			warm := make([]kafka.Message, 20)
			for i := range warm {
				warm[i] = kafka.Message{Value: make([]byte, 330)}
			}
			if err := w.WriteMessages(ctx, warm...); err != nil {
				b.Fatal(err)
			}
			for range warm {
				<-got
			}
			mu.Lock()
			lat = lat[:0]
			mu.Unlock()
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			// Open loop: 1,667 records a second in 10 ms steps.
			const perStep = 17
			val := make([]byte, 330)
			tick := time.NewTicker(10 * time.Millisecond)
			for sent := 0; sent < b.N; {
				<-tick.C
				n := min(perStep, b.N-sent)
				msgs := make([]kafka.Message, n)
				for i := range msgs {
					v := slices.Clone(val)
					binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
					msgs[i] = kafka.Message{Value: v}
				}
				go func() { _ = w.WriteMessages(ctx, msgs...) }()
				sent += n
			}
			tick.Stop()
			for range b.N {
				<-got
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)-syscall.TimevalToNsec(ru0.Utime)) +
				time.Duration(syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Stime))
			mu.Lock()
			slices.Sort(lat)
			b.ReportMetric(lat[len(lat)/2], "p50_ms")
			b.ReportMetric(lat[len(lat)*99/100], "p99_ms")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_µs/record")
			mu.Unlock()
		})
	}
}

// BenchmarkTailIdleFetch: what one fetch of Tail costs this process: six
// partition readers (the readings topic) on an empty topic, where every
// fetch waits the whole maxWait at the broker; CPU per fetch = process CPU
// over the fetches made (wall time ÷ maxWait per partition). b.N is in
// fetches.
func BenchmarkTailIdleFetch(b *testing.B) {
	for _, wait := range []time.Duration{30 * time.Millisecond, 15 * time.Millisecond} {
		b.Run(wait.String(), func(b *testing.B) {
			kc := kafkatest.Topics(b, "tailidle", 6, "r")
			ctx, cancel := context.WithCancel(context.Background())
			positioned := make(chan struct{})
			done := make(chan struct{})
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			go func() {
				defer close(done)
				_ = kc.Tail(ctx, log, "r", 0, func() { close(positioned) }, func(kafka.Message) {}, kafkaconn.Batched(16<<10, wait))
			}()
			<-positioned
			time.Sleep(2 * wait) // the first fetches under way
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			start := time.Now()
			b.ResetTimer()
			// Six readers make 6 fetches per wait.
			time.Sleep(time.Duration(b.N) * wait / 6)
			b.StopTimer()
			el := time.Since(start)
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) +
				syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime)
			fetches := 6 * float64(el) / float64(wait)
			b.ReportMetric(float64(cpu)/1e3/fetches, "cpu_µs/fetch")
			cancel()
			<-done
		})
	}
}
