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

// watchLag keeps ioc_feeds_consumer_lag{topic} up to date (stream.WatchGroupLag).
func (s *Service) watchLag(ctx context.Context) {
	stream.WatchGroupLag(ctx, s.kafka, s.log, s.cfg.GroupID, event.AdminTopics(), lagInterval, stream.LagGauges{
		Set: func(lag map[string]int64) {
			for name, n := range lag {
				s.m.lag.WithLabelValues(name).Set(float64(n))
			}
		},
		Failed: s.m.lagErrors.Inc,
	})
}
