package kafkaconn

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// A kafka-go Transport refreshes the metadata it caches in the background
// for as long as it is used: every MetadataTTL at most (2 s here, so every
// second on average). Without MetadataTopics it asks for every topic of the
// cluster. On a cluster shared with other pipelines, or left with many
// topics by tests (513 topics and 2,857 partitions on the development
// machine), each refresh decodes half a megabyte in 13,000 allocations
// (BenchmarkTransportMetadataRefresh), a few per cent of a role's CPU for
// every long-lived client and writer. The clients and writers below ask
// only about their own topics.

// NewTopicsClient is NewClient for a client that asks only about the named
// full topic names (Topic(short)).
func (c *Config) NewTopicsClient(timeout time.Duration, topics ...string) (*kafka.Client, func()) {
	t := c.Transport()
	t.MetadataTopics = topics
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: t}, t.CloseIdleConnections
}

// LimitMetadata makes a writer of NewWriter keep the metadata of only the
// named topics (short names), the topics it writes to. Call it before the
// first write; a write to a topic not named fails (unknown topic).
func (c *Config) LimitMetadata(w *kafka.Writer, names ...string) {
	t, ok := w.Transport.(*kafka.Transport)
	if !ok {
		return
	}
	full := make([]string, len(names))
	for i, n := range names {
		full[i] = c.Topic(n)
	}
	t.MetadataTopics = full
}
