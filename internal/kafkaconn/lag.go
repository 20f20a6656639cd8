package kafkaconn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupLag measures how many records of the topics a consumer group has
// not committed yet, per topic: for every partition, the end offset minus
// the group's committed offset (or minus the log start when the group has
// committed nothing there, or its commit fell out of retention). It asks
// the brokers, not the reader, so it keeps growing while consumption is
// paused (ClickHouse stalled, inserts retried, nothing committed) and
// drops as soon as the group commits.
//
// client is reused from call to call (kafkaconn.Config.NewClient): a new
// Transport per measurement would leak its connection pool every time.
func GroupLag(ctx context.Context, client *kafka.Client, group string, topics []string) (map[string]int64, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of %s: %w", strings.Join(topics, ", "), err)
	}
	parts := map[string][]int{}
	offReq := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("reading metadata of topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			offReq[t.Name] = append(offReq[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offReq})
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", strings.Join(topics, ", "), err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets of group %s: %w", group, err)
	}
	if committed.Error != nil {
		return nil, fmt.Errorf("fetching committed offsets of group %s: %w", group, committed.Error)
	}
	type tp struct {
		topic     string
		partition int
	}
	commit := map[tp]int64{}
	for topic, ps := range committed.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("fetching committed offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
			}
			commit[tp{topic, p.Partition}] = p.CommittedOffset
		}
	}
	lag := make(map[string]int64, len(parts))
	for topic, ps := range ends.Topics {
		var sum int64
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("listing offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
			sum += partitionLag(p.FirstOffset, p.LastOffset, commit[tp{topic, p.Partition}])
		}
		lag[topic] = sum
	}
	return lag, nil
}

// partitionLag is the records between the position a group resumes from
// and the end of the partition. A committed offset below 0 means the group
// has committed nothing there: it starts at the log start (the readers
// use kafka.FirstOffset), as it does when the commit was deleted by
// retention.
func partitionLag(first, end, committed int64) int64 {
	if end < 0 {
		return 0
	}
	pos := max(committed, first, 0)
	return max(end-pos, 0)
}

// LagGauges is what WatchGroupLag updates: Set with each topic's lag (by
// the short names it was given), Failed once per failed measurement.
type LagGauges struct {
	Set    func(lag map[string]int64)
	Failed func()
}

// WatchGroupLag measures the group's lag on the named topics every
// interval from the brokers' end offsets and the group's commits, until
// ctx ends. A failed measurement keeps the last values (and is logged once
// per outage): a lag that cannot be measured is not a lag of zero.
func WatchGroupLag(ctx context.Context, kc Config, log *slog.Logger, group string, names []string, every time.Duration, g LagGauges) {
	topics := make([]string, len(names))
	for i, n := range names {
		topics[i] = kc.Topic(n)
	}
	client, release := kc.NewTopicsClient(10*time.Second, topics...)
	defer release()
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		mctx, cancel := context.WithTimeout(ctx, every)
		lag, err := GroupLag(mctx, client, group, topics)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			g.Failed()
			if !failing {
				log.Warn("measuring consumer lag failed; the lag gauges keep their last values", "group", group, "err", err)
			}
			failing = true
		case err == nil:
			if failing {
				log.Info("measuring consumer lag again", "group", group)
			}
			failing = false
			byName := make(map[string]int64, len(names))
			for i, topic := range topics {
				byName[names[i]] = lag[topic]
			}
			g.Set(byName)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
