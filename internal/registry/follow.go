package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Follow keeps a role's registry live: it reads the registry topic from
// its first record over the CSV file's devices (base) and calls set with
// the registry in force once it has read what the topic held at the start,
// then again after every change, until ctx ends. A change reaches every
// follower within about a second of its publication (Kafka's fetch wait).
// A record that does not decode is logged and skipped: the writers
// (dashboard, `ioc device`) validate before they publish. rec, if not nil,
// sees every record applied (stream stores them in ClickHouse).
func Follow(ctx context.Context, kc kafkaconn.Config, log *slog.Logger, base *Registry, set func(*Registry), rec func(Record)) error {
	o := NewOverlay(base)
	caught := false
	return backoff.Retry(ctx, log, "following the device registry topic "+kc.Topic(TopicDevices), func() error {
		if err := kc.EnsureCompactedTopic(ctx, TopicDevices); err != nil {
			return err
		}
		err := kc.FollowCompacted(ctx, TopicDevices, func() {
			caught = true
			set(o.Registry())
		}, func(m kafka.Message) {
			r, err := Decode(m.Value)
			if err != nil {
				log.Error("skipping a record of the device registry topic", "key", string(m.Key), "offset", m.Offset, "err", err)
				return
			}
			if o.Apply(r) {
				if rec != nil {
					rec(r)
				}
				if caught {
					set(o.Registry())
				}
			}
		})
		if err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
}

// ReadAll reads the topic to its end and returns the newest record of
// every device (retired ones included).
func ReadAll(ctx context.Context, kc kafkaconn.Config) (*Overlay, error) {
	if err := kc.EnsureCompactedTopic(ctx, TopicDevices); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	o := NewOverlay(nil)
	done := make(chan struct{})
	var bad error
	err := kc.FollowCompacted(lctx, TopicDevices, func() { close(done); cancel() }, func(m kafka.Message) {
		r, err := Decode(m.Value)
		if err != nil {
			bad = fmt.Errorf("record at offset %d: %w", m.Offset, err)
			return
		}
		o.Apply(r)
	})
	select {
	case <-done:
	default:
		if err == nil {
			err = errors.New("stopped before reading to the end")
		}
		return nil, fmt.Errorf("reading the device registry topic %s: %w", kc.Topic(TopicDevices), err)
	}
	_ = bad // a bad record is skipped, as Follow does
	return o, nil
}

// Publish validates records and writes them to the registry topic in one
// request; it returns once Kafka acknowledged them on all in-sync replicas.
func Publish(ctx context.Context, w *kafka.Writer, kc kafkaconn.Config, rs ...Record) error {
	msgs := make([]kafka.Message, 0, len(rs))
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("device %s: %w", r.ID, err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encoding device record: %w", err)
		}
		msgs = append(msgs, kafka.Message{Topic: kc.Topic(TopicDevices), Key: []byte(r.ID), Value: b})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publishing %d device records to %s: %w (is Kafka running?)", len(msgs), kc.Topic(TopicDevices), err)
	}
	return nil
}

// Seed publishes, as source csv, every device of the file that the topic
// has no record of: the CSV file seeds the live registry, and a device
// added to the file later joins it. A device the topic holds (edited or
// retired since) is left as it is; `ioc device import` overwrites from
// the file on purpose. It returns how many it published.
func Seed(ctx context.Context, kc kafkaconn.Config, w *kafka.Writer, file *Registry, actor string, now time.Time) (int, error) {
	if file == nil || file.Len() == 0 {
		return 0, nil
	}
	o, err := ReadAll(ctx, kc)
	if err != nil {
		return 0, err
	}
	var rs []Record
	for _, d := range file.Devices() {
		if _, ok := o.Record(d.ID); ok {
			continue
		}
		r := RecordOf(d)
		r.Version, r.Actor, r.Source = now.UnixMilli(), actor, SourceCSV
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return 0, nil
	}
	if err := Publish(ctx, w, kc, rs...); err != nil {
		return 0, err
	}
	return len(rs), nil
}
