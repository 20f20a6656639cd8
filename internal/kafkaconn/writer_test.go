package kafkaconn

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Every writer of the pipeline goes to all brokers, waits for all in-sync
// replicas, keeps a key's records in order, and adds the topic prefix.
func TestNewWriterDefaults(t *testing.T) {
	c := Config{Brokers: []string{"a:9092", "b:9092", "c:9092"}, TopicPrefix: "p."}
	c.Defaults()
	w := c.NewWriter(WriterOptions{Topic: "t"})
	if got := w.Addr.String(); got != "a:9092,b:9092,c:9092" {
		t.Errorf("Addr = %s, want every broker", got)
	}
	if w.Topic != "p.t" || w.RequiredAcks != kafka.RequireAll || w.MaxAttempts != 3 || w.BatchBytes != 900<<10 ||
		w.BatchTimeout != 5*time.Millisecond || w.Transport == nil {
		t.Errorf("writer = %+v", w)
	}
	if _, ok := w.Balancer.(*kafka.Hash); !ok {
		t.Errorf("Balancer = %T, want *kafka.Hash", w.Balancer)
	}
	w = c.NewWriter(WriterOptions{Linger: time.Millisecond, BatchSize: 7, BatchBytes: 1 << 20, MaxAttempts: 10, Balancer: &kafka.RoundRobin{}})
	if w.Topic != "" || w.BatchTimeout != time.Millisecond || w.BatchSize != 7 || w.BatchBytes != 1<<20 || w.MaxAttempts != 10 {
		t.Errorf("options not kept: %+v", w)
	}
	if _, ok := w.Balancer.(*kafka.RoundRobin); !ok {
		t.Errorf("Balancer = %T, want the one given", w.Balancer)
	}
}
