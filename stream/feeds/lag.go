package feeds

import (
	"context"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream"
)

// lagInterval is how often the consumer lag is measured (a variable for
// the tests).
var lagInterval = 5 * time.Second

// watchLag sets ioc_feeds_consumer_lag{topic} every lagInterval from the
// brokers' end offsets and the group's commits (stream.GroupLag: it grows
// while inserts are retried and nothing is committed), until ctx ends. A
// failed measurement keeps the last values, logged once per outage: a lag
// that cannot be measured is not a lag of zero.
func (s *Service) watchLag(ctx context.Context) {
	names := event.AdminTopics()
	topics := make([]string, len(names))
	for i, n := range names {
		topics[i] = s.kafka.Topic(n)
	}
	client, release := s.kafka.NewClient(10 * time.Second)
	defer release()
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	failing := false
	for {
		mctx, cancel := context.WithTimeout(ctx, lagInterval)
		lag, err := stream.GroupLag(mctx, client, s.cfg.GroupID, topics)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.m.lagErrors.Inc()
			if !failing {
				s.log.Warn("measuring the feed consumer's lag failed; ioc_feeds_consumer_lag keeps its last values", "err", err)
			}
			failing = true
		case err == nil:
			if failing {
				s.log.Info("measuring the feed consumer's lag again")
			}
			failing = false
			for i, topic := range topics {
				s.m.lag.WithLabelValues(names[i]).Set(float64(lag[topic]))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
