package ingest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// BenchmarkKafkaWriter writes ingest's records to the local Kafka
// (IOC_KAFKA_BROKERS, see deploy/local/services.sh env) the way ingest does:
// four producers, each writing a batch of queued messages' records and
// waiting for RequireAll. One op is one batch of 200 SenML packs of five
// readings (1,000 records). "before" is the writer as it was (BatchSize
// 4 × max_batch, BatchBytes 32 MiB); "after" is NewWriter.
//
//	eval "$(deploy/local/services.sh env)"; go test ./ingest -run '^$' -bench KafkaWriter -benchtime 3000x
func BenchmarkKafkaWriter(b *testing.B) {
	kc := benchKafka(b, "benchw")
	ctx := context.Background()
	batch := benchRecords(b, kc.Topic(event.TopicReadings), 200)
	cfg := Config{}
	cfg.Defaults()
	for _, tc := range []struct {
		name  string
		size  int
		bytes int64
	}{
		{"before", cfg.MaxBatch * 4, 32 << 20},
		{"after", writerBatchSize, int64(cfg.KafkaBatchBytes)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			w := NewWriter(cfg, kc)
			w.BatchSize, w.BatchBytes = tc.size, tc.bytes
			defer w.Close()
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan struct{})
			for p := 0; p < cfg.Producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						if err := w.WriteMessages(ctx, batch...); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// benchKafka is the local Kafka (IOC_KAFKA_BROKERS) with the readings
// topic under a prefix of the benchmark's own, deleted at the end; without
// the variable the benchmark is skipped.
func benchKafka(b *testing.B, prefix string) kafkaconn.Config {
	b.Helper()
	brokers := os.Getenv("IOC_KAFKA_BROKERS")
	if brokers == "" {
		b.Skip("IOC_KAFKA_BROKERS is not set: this benchmark needs the local Kafka")
	}
	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), TopicPrefix: fmt.Sprintf("%s%d.", prefix, time.Now().UnixNano())}
	kc.Defaults()
	ctx := context.Background()
	if err := kc.EnsureTopics(ctx, event.TopicReadings); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = kc.DeleteTopicsWithPrefix(context.Background())
	})
	return kc
}

// benchRecords makes the Kafka records of n five-reading SenML packs, as
// onMessage does.
func benchRecords(b *testing.B, topic string, n int) []kafka.Message {
	dec := payload.Decoder{Limits: event.DefaultLimits}
	now := time.Now()
	var out []kafka.Message
	for i := 0; i < n; i++ {
		dev := fmt.Sprintf("aq-%04d", i)
		body := fmt.Sprintf(`[{"bt":%.3f,"n":"pm25","u":"ug/m3","v":%d},{"n":"pm10","u":"ug/m3","v":3},{"n":"co","u":"ug/m3","v":700},`+
			`{"n":"no2","u":"ug/m3","v":20},{"n":"temperature","u":"Cel","v":24.5}]`, float64(now.UnixMilli())/1000, i)
		rs, err := dec.Decode(nil, "vnpt", dev, []byte(body), now)
		if err != nil {
			b.Fatal(err)
		}
		for j := range rs {
			v, err := event.MarshalReading(&rs[j])
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, kafka.Message{Topic: topic, Key: []byte(dev), Value: v})
		}
	}
	return out
}

// BenchmarkKafkaWriterSmallWrites is the one-reading-per-message shape at
// a moderate rate (issue 17): four producers each write what a few
// milliseconds brought, here 6 records (6 messages of one reading), so a
// partition batch carries one or two records. kafka-go allocates every
// partition batch at BatchSize capacity: the allocated bytes per write
// show what that costs. "before" is BatchSize 256, "after" NewWriter's.
//
//	go test ./ingest -run '^$' -bench KafkaWriterSmallWrites -benchtime 3000x
func BenchmarkKafkaWriterSmallWrites(b *testing.B) {
	kc := benchKafka(b, "benchs")
	ctx := context.Background()
	all := benchRecords(b, kc.Topic(event.TopicReadings), 200)
	cfg := Config{}
	cfg.Defaults()
	for _, tc := range []struct {
		name string
		size int
	}{{"before", 256}, {"after", writerBatchSize}} {
		b.Run(tc.name, func(b *testing.B) {
			w := NewWriter(cfg, kc)
			w.BatchSize = tc.size
			defer w.Close()
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan int)
			for p := 0; p < cfg.Producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						j := (i * 6) % (len(all) - 6)
						if err := w.WriteMessages(ctx, all[j:j+6]...); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				work <- i
			}
			close(work)
			wg.Wait()
		})
	}
}
