package kafkaconn

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterOptions tune a writer made by NewWriter; a zero field keeps the
// default.
type WriterOptions struct {
	// Topic is the short topic name (kafka.topic_prefix is added); empty
	// when every message names its own (full) topic.
	Topic string
	// Linger is how long a batch waits for more records (BatchTimeout,
	// 5 ms by default).
	Linger time.Duration
	// BatchSize is the records per produce request (kafka-go's 100 by
	// default).
	BatchSize int
	// BatchBytes caps a produce request (900 KiB by default: under the
	// broker's message.max.bytes of 1 MiB; a larger request is split).
	BatchBytes int64
	// MaxAttempts is how often a write is tried (3 by default).
	MaxAttempts int
	// Balancer picks the partition (by key hash by default, so that one
	// device's or one record's events stay in order).
	Balancer kafka.Balancer
}

// NewWriter is the one way the pipeline produces to Kafka: to every broker
// of Brokers, acknowledged by all in-sync replicas, with the Transport
// (security, client id, metadata refresh) of the configuration.
func (c *Config) NewWriter(o WriterOptions) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Balancer:     o.Balancer,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: o.Linger,
		BatchSize:    o.BatchSize,
		BatchBytes:   o.BatchBytes,
		MaxAttempts:  o.MaxAttempts,
		Transport:    c.Transport(),
	}
	if o.Topic != "" {
		w.Topic = c.Topic(o.Topic)
	}
	if w.Balancer == nil {
		w.Balancer = &kafka.Hash{}
	}
	if w.BatchTimeout == 0 {
		w.BatchTimeout = 5 * time.Millisecond
	}
	if w.BatchBytes == 0 {
		w.BatchBytes = 900 << 10
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = 3
	}
	return w
}
