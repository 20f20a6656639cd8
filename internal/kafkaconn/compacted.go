package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureCompactedTopic creates a one-partition topic with
// cleanup.policy=compact if it does not exist: the newest record of every
// key is kept for ever, older ones are compacted away. It holds state (such
// as the KPI tiles) that a reader rebuilds by reading it from the start.
func (c *Config) EnsureCompactedTopic(ctx context.Context, name string) error {
	client, release := c.NewClient(15 * time.Second)
	defer release()
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: c.Topic(name), NumPartitions: 1, ReplicationFactor: c.ReplicationFactor,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "compact"},
			{ConfigName: "min.compaction.lag.ms", ConfigValue: "60000"},
		},
	}}})
	if err != nil {
		return fmt.Errorf("creating compacted kafka topic %s: %w (is Kafka running? try deploy/local/services.sh status)", c.Topic(name), err)
	}
	for topic, terr := range res.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("creating kafka topic %s: %w", topic, terr)
		}
	}
	return nil
}

// FollowCompacted reads partition 0 of a compacted topic from its first
// record and hands every record to fn, in order, until ctx ends. caughtUp,
// if not nil, is called once, when every record that existed at the start
// has been handed over (at once if the topic was empty).
func (c *Config) FollowCompacted(ctx context.Context, name string, caughtUp func(), fn func(kafka.Message)) error {
	conn, err := c.DialLeader(ctx, name, 0)
	if err != nil {
		return err
	}
	first, last, err := conn.ReadOffsets()
	conn.Close()
	if err != nil {
		return fmt.Errorf("reading offsets of %s: %w", c.Topic(name), err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.Brokers, Topic: c.Topic(name), Partition: 0, Dialer: c.Dialer(),
		// MaxWait bounds only the idle long poll (MinBytes 1); a long one
		// leaves the broker slack before kafka-go's deadline.
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 2 * time.Second, QueueCapacity: 100,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return fmt.Errorf("positioning a reader on %s: %w", c.Topic(name), err)
	}
	signal := func() {
		if caughtUp != nil {
			caughtUp()
			caughtUp = nil
		}
	}
	if last <= first {
		signal()
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading %s: %w", c.Topic(name), err)
		}
		fn(m)
		if m.Offset >= last-1 {
			signal()
		}
	}
}

// WaitForLeaders waits until every partition of the topics has a leader
// that serves it. A topic just created has none for a moment, and a client
// that writes or fetches then gets "Not Leader For Partition" errors. The
// metadata alone is not proof: a KRaft broker names itself leader in its
// metadata a moment before its replica manager holds the partition, and a
// write in that moment is refused the same way (a CI run on 2 busy cores
// met it). So each partition's leader is also asked for its first offset,
// which it answers only once it serves the partition.
func (c *Config) WaitForLeaders(ctx context.Context, names ...string) error {
	client, release := c.NewClient(10 * time.Second)
	defer release()
	full := make([]string, len(names))
	for i, n := range names {
		full[i] = c.Topic(n)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		why := notServed(wctx, client, full)
		if why == "" {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("waiting for the leaders of %s: %s (is every broker up? try deploy/local/services.sh status)",
				strings.Join(full, ", "), why)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// notServed says why a partition of the topics is not served yet, or ""
// when every one is.
func notServed(ctx context.Context, client *kafka.Client, topics []string) string {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return err.Error()
	}
	if len(md.Topics) < len(topics) {
		return "not every topic is in the metadata yet"
	}
	offsets := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	asked := 0
	for _, t := range md.Topics {
		if t.Error != nil {
			return t.Name + ": " + t.Error.Error()
		}
		if len(t.Partitions) == 0 {
			return t.Name + " has no partitions in the metadata yet"
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.ID < 0 {
				return fmt.Sprintf("%s partition %d has no leader yet", t.Name, p.ID)
			}
			offsets.Topics[t.Name] = append(offsets.Topics[t.Name], kafka.FirstOffsetOf(p.ID))
			asked++
		}
	}
	res, err := client.ListOffsets(ctx, offsets)
	if err != nil {
		return "asking the leaders for offsets: " + err.Error()
	}
	answered := 0
	for topic, ps := range res.Topics {
		answered += len(ps)
		for _, p := range ps {
			if p.Error != nil {
				return fmt.Sprintf("the leader of %s partition %d does not serve it yet: %v", topic, p.Partition, p.Error)
			}
		}
	}
	if answered < asked {
		return fmt.Sprintf("the leaders answered for %d of %d partitions", answered, asked)
	}
	return ""
}
