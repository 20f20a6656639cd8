package kafkaconn

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/backoff"
)

// Tail follows every partition of a topic without a consumer group (every
// follower sees every record), starting `replay` records before each
// partition's end, and hands each record to fn, one goroutine per
// partition. positioned, if not nil, is called once every partition has its
// start offset. Tail returns when ctx ends, or with an error (and nothing
// left running) when a reader cannot be positioned.
//
// It is the one tail of the pipeline: the dashboard follows the live
// topics this way, and so does the stream's monitor. Both seed their state
// from ClickHouse first; the replay covers what was in Kafka but not yet
// in ClickHouse.
func (c *Config) Tail(ctx context.Context, log *slog.Logger, topic string, replay int, positioned func(), fn func(kafka.Message), opts ...TailOption) error {
	o := tailOptions{minBytes: 1, maxWait: 250 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	var parts []int
	if err := backoff.Retry(ctx, log, "listing partitions of "+c.Topic(topic), func() (err error) {
		parts, err = c.PartitionIDs(ctx, topic)
		return err
	}); err != nil {
		return nil // shutting down
	}
	starts := make([]int64, len(parts))
	for i, p := range parts {
		if err := backoff.Retry(ctx, log, "reading end offsets of "+c.Topic(topic), func() error {
			conn, err := c.DialLeader(ctx, topic, p)
			if err != nil {
				return err
			}
			defer conn.Close()
			first, last, err := conn.ReadOffsets()
			starts[i] = max(first, last-int64(replay))
			return err
		}); err != nil {
			return nil
		}
	}
	// Every reader is made and positioned before any reads: a failure
	// closes them all and leaves nothing running.
	readers := make([]*kafka.Reader, 0, len(parts))
	for i, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: c.Brokers, Topic: c.Topic(topic), Partition: p, Dialer: c.Dialer(),
			MinBytes: o.minBytes, MaxBytes: 4 << 20, MaxWait: ReaderMaxWait(o.maxWait), QueueCapacity: 1000,
		})
		readers = append(readers, r)
		if err := positionReader(r, starts[i]); err != nil {
			for _, r := range readers {
				r.Close()
			}
			return fmt.Errorf("positioning a reader on %s partition %d: %w", c.Topic(topic), p, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range parts {
		r := readers[i]
		g.Go(func() error {
			defer r.Close()
			for {
				m, err := r.ReadMessage(gctx)
				if err != nil {
					if gctx.Err() != nil {
						return nil
					}
					// A pause, not a spin: a broker away makes every read fail.
					log.Warn("reading "+c.Topic(topic), "partition", p, "err", err)
					select {
					case <-time.After(time.Second):
					case <-gctx.Done():
						return nil
					}
					continue
				}
				fn(m)
			}
		})
	}
	if positioned != nil {
		positioned()
	}
	return g.Wait()
}

// positionReader sets where a reader of Tail starts (a variable for the
// tests).
var positionReader = func(r *kafka.Reader, offset int64) error { return r.SetOffset(offset) }

// TailOption tunes the fetches of Tail.
type TailOption func(*tailOptions)

type tailOptions struct {
	minBytes int
	maxWait  time.Duration
}

// Batched makes each fetch wait until the broker has minBytes for the
// partition or maxWait has passed (the broker's wait, see ReaderMaxWait). By default a fetch returns as soon as one
// record is there, which is right for sparse topics (alerts, statuses) but
// costs the broker one request per handful of records on a busy one: at
// 10,000 readings/s over 6 partitions that is thousands of fetches a second
// for each follower.
func Batched(minBytes int, maxWait time.Duration) TailOption {
	return func(o *tailOptions) { o.minBytes, o.maxWait = minBytes, maxWait }
}

// ReaderMaxWait is the kafka-go ReaderConfig.MaxWait that makes the broker
// hold an empty fetch for brokerWait. kafka-go asks the broker to answer
// within MaxWait minus a slack of min(1 s, MaxWait/4) and drops the
// connection if no answer came by MaxWait: with MaxWait 250 ms the slack
// is 62 ms, which a loaded machine overruns, and every overrun is a
// reconnect and a back-off with records waiting. A second of slack makes
// that rare.
func ReaderMaxWait(brokerWait time.Duration) time.Duration {
	return brokerWait + time.Second
}
