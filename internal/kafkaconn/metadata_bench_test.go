package kafkaconn_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"
	meta "github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/sonla-ioc/ioc/internal/kafkatest"
)

// BenchmarkTransportMetadataRefresh: the metadata request a long-lived
// kafka-go Transport repeats in the background (on average every second
// with our MetadataTTL of 2 s), sent and decoded as its connection pool
// does (protocol.RoundTrip): for every topic of the cluster (NewClient,
// no MetadataTopics) or for the client's own topics (NewTopicsClient).
// Needs the local Kafka; the all-topics figure grows with the topics the
// cluster holds.
func BenchmarkTransportMetadataRefresh(b *testing.B) {
	kc := kafkatest.Topics(b, "metabench", 6, "readings", "dead_letters", "device_status", "alerts")
	own := []string{kc.Topic("readings"), kc.Topic("dead_letters"), kc.Topic("device_status"), kc.Topic("alerts")}
	for _, c := range []struct {
		name   string
		topics []string
	}{{"all_topics", nil}, {"own_topics", own}} {
		b.Run(c.name, func(b *testing.B) {
			conn, err := net.DialTimeout("tcp", kc.Brokers[0], 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			rw := struct {
				io.Reader
				io.Writer
			}{bufio.NewReader(conn), conn}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				res, err := protocol.RoundTrip(rw, 4, int32(i), "bench", &meta.Request{TopicNames: c.topics})
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.(*meta.Response).Topics); n < len(own) {
					b.Fatalf("%d topics in the answer", n)
				}
			}
		})
	}
}
