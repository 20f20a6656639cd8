package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Follower keeps a role's registry live: it reads the registry topic from
// its first record over the CSV file's devices (Base) and calls Set with
// the registry in force once it has read what the topic held at the start,
// then after every change (a burst of records gives one call with the
// newest), until ctx ends. A change reaches every follower within about a
// second of its publication (Kafka's fetch wait; docs/operations.md,
// "Device registry"); ioc_registry_version_ms{role} is the newest change
// each role applied. A record that does not decode is logged and skipped:
// the writers (dashboard, `ioc device`) validate before they publish.
type Follower struct {
	Kafka kafkaconn.Config
	Log   *slog.Logger
	Base  *Registry
	Role  string // ingest, stream, dashboard: the metric's label
	Reg   prometheus.Registerer
	Set   func(*Registry)
	// Record, if not nil, sees every record applied, in order (stream
	// stores them in ClickHouse).
	Record func(Record)
	// Seed, if set, publishes the Base devices the topic has no record of
	// once the topic is read (stream does; Seed below says why).
	Seed   bool
	Writer *kafka.Writer

	caught  atomic.Bool
	mu      sync.Mutex
	overlay *Overlay
}

// Ready reports whether the follower has read the topic to where it ended
// at the start.
func (f *Follower) Ready() bool { return f.caught.Load() }

// Run follows the topic until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	f.overlay = NewOverlay(f.Base)
	gauge := versionGauge(f.Reg).WithLabelValues(f.Role)
	kick := make(chan struct{}, 1)
	notify := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			f.mu.Lock()
			reg := f.overlay.Registry()
			f.mu.Unlock()
			f.Set(reg)
		}
	}()
	var newest int64
	return backoff.Retry(ctx, f.Log, "following the device registry topic "+f.Kafka.Topic(TopicDevices), func() error {
		if err := f.Kafka.EnsureCompactedTopic(ctx, TopicDevices); err != nil {
			return err
		}
		err := f.Kafka.FollowCompacted(ctx, TopicDevices, func() {
			if !f.caught.Swap(true) && f.Seed {
				go f.seed(ctx)
			}
			notify()
		}, func(m kafka.Message) {
			r, err := Decode(m.Value)
			if err != nil {
				f.Log.Error("skipping a record of the device registry topic", "key", string(m.Key), "offset", m.Offset, "err", err)
				return
			}
			f.mu.Lock()
			applied := f.overlay.Apply(r)
			f.mu.Unlock()
			if !applied {
				return
			}
			if f.Record != nil {
				f.Record(r)
			}
			if r.Version > newest {
				newest = r.Version
				gauge.Set(float64(newest))
			}
			if f.caught.Load() {
				notify()
			}
		})
		if err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
}

// seed publishes, as source csv, every Base device the topic has no
// record of: the CSV file seeds the live registry, and a device added to
// the file later joins it. A device the topic holds (edited or retired
// since) is left as it is; `ioc device import` overwrites from the file on
// purpose.
func (f *Follower) seed(ctx context.Context) {
	if f.Base == nil || f.Writer == nil {
		return
	}
	f.mu.Lock()
	var rs []Record
	now := time.Now().UnixMilli()
	for _, d := range f.Base.Devices() {
		if _, ok := f.overlay.Record(d.ID); ok {
			continue
		}
		r := RecordOf(d)
		r.Version, r.Actor, r.Source = now, "system:"+f.Role, SourceCSV
		rs = append(rs, r)
	}
	f.mu.Unlock()
	if len(rs) == 0 {
		return
	}
	_ = backoff.Retry(ctx, f.Log, "seeding the device registry topic from the csv file", func() error {
		return Publish(ctx, f.Writer, f.Kafka, rs...)
	})
	f.Log.Info("device registry topic seeded from the csv file", "devices", len(rs))
}

var gaugeMu sync.Mutex

// versionGauge is ioc_registry_version_ms, shared by the roles of one
// process.
func versionGauge(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_registry_version_ms",
		Help: "Version (unix ms of the change) of the newest device registry record this role applied."}, []string{"role"})
	if reg == nil {
		return g
	}
	gaugeMu.Lock()
	defer gaugeMu.Unlock()
	if err := reg.Register(g); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				return old
			}
		}
	}
	return g
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
