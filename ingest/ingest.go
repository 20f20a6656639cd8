// Package ingest is the pipeline's intake: it subscribes to the partners'
// sensor topics over MQTT, decodes and validates each message, and produces
// readings (or dead letters) to Kafka. An MQTT message is acknowledged to the
// broker only after Kafka acknowledged its records on all in-sync replicas,
// so a crash at any point leaves the message with the broker for redelivery.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/mqttconn"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// Service runs the ingest role.
type Service struct {
	cfg   Config
	kafka kafkaconn.Config
	log   *slog.Logger
	m     *metrics
	// reg is the registry in force: the CSV file's, then the live one
	// (registry.Follow) as soon as the registry topic is read.
	reg      atomic.Pointer[registry.Registry]
	regf     *registry.Follower
	decoder  payload.Decoder
	partners map[string]bool
	// unregistered caps the distinct devices outside the registry per
	// partner: a flood of random device ids must not grow every table,
	// the wall's state and the monitor without bound.
	unregistered *deviceCap

	queue     chan item
	stopping  chan struct{}
	ready     atomic.Bool
	connected atomic.Bool
	// oldest holds, per producer, the receive time (unix ms) of the oldest
	// message of the batch it is writing, 0 when idle: the queue is FIFO
	// and a producer takes its batch from the head, so the oldest message
	// not yet acknowledged is among these.
	oldest []atomic.Int64
	now    func() time.Time
	// solo writes one record per batch, to tell whether Kafka refuses a
	// record itself or the batch it shared (write).
	solo *kafka.Writer
}

// item is one MQTT message with the Kafka records it became.
type item struct {
	msg      mqtt.Message
	records  []kafka.Message
	received int64 // unix ms
	dead     bool  // records is the message's dead letter
}

// New checks the configuration and prepares the role.
func New(cfg Config, kc kafkaconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	devices, err := registry.Load(cfg.RegistryFile)
	if err != nil {
		return nil, err
	}
	if cfg.MQTT.PasswordFile != "" {
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("reading ingest.mqtt.password_file: %w", err)
		}
		cfg.MQTT.Password = strings.TrimSpace(string(b))
	}
	s := &Service{
		cfg: cfg, kafka: kc, log: log.With("component", "ingest"), m: newMetrics(reg, cfg.QueueSize, cfg.MaxUnackedAge.Seconds()),
		decoder:      payload.Decoder{MaxBytes: cfg.MaxPayloadBytes, Limits: event.Limits{MaxPast: cfg.MaxPast, MaxFuture: cfg.MaxFuture}},
		partners:     map[string]bool{},
		unregistered: newDeviceCap(cfg.MaxUnregistered),
		queue:        make(chan item, cfg.QueueSize),
		stopping:     make(chan struct{}),
		oldest:       make([]atomic.Int64, cfg.Producers),
		now:          time.Now,
	}
	s.reg.Store(devices)
	s.regf = &registry.Follower{Kafka: kc, Log: s.log, Base: devices, Role: "ingest", Reg: reg, Set: func(r *registry.Registry) {
		s.reg.Store(r)
		s.log.Info("device registry updated", "devices", r.Len())
	}}
	s.decoder.MaxRecords = cfg.MaxRecords
	for _, p := range cfg.Partners {
		s.partners[p] = true
	}
	return s, nil
}

// Ready reports whether the role is connected and taking messages, its
// intake is not stalled (UnackedAge within ingest.max_unacked_age), and it
// has read the live device registry.
func (s *Service) Ready() bool {
	return s.ready.Load() && s.connected.Load() && s.UnackedAge() <= s.cfg.MaxUnackedAge && s.regf.Ready()
}

// UnackedAge is how long the oldest MQTT message ingest holds has waited
// for Kafka (0 when everything received is acknowledged).
func (s *Service) UnackedAge() time.Duration {
	var oldest int64
	for i := range s.oldest {
		if t := s.oldest[i].Load(); t > 0 && (oldest == 0 || t < oldest) {
			oldest = t
		}
	}
	if oldest == 0 {
		return 0
	}
	return max(0, s.now().Sub(time.UnixMilli(oldest)))
}

// Run consumes MQTT until ctx is cancelled, then drains what it holds to
// Kafka, acknowledges it, and disconnects.
func (s *Service) Run(ctx context.Context) error {
	if err := backoff.Retry(ctx, s.log, "creating kafka topics", func() error {
		return s.kafka.EnsureTopics(ctx, event.TopicReadings, event.TopicDeadLetter)
	}); err != nil {
		return err
	}
	if err := s.checkTopicLimits(ctx); err != nil {
		return err
	}
	writer := NewWriter(s.cfg, s.kafka)
	defer writer.Close()
	s.solo = NewWriter(s.cfg, s.kafka)
	s.solo.BatchSize = 1
	defer s.solo.Close()

	client := mqtt.NewClient(s.mqttOptions())
	// Producers drain the queue even after ctx is cancelled; they get their
	// own context with a deadline so a dead Kafka cannot hang shutdown.
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	var g errgroup.Group
	for i := 0; i < s.cfg.Producers; i++ {
		g.Go(func() error { return s.produce(drainCtx, writer, &s.oldest[i]) })
	}
	go s.watchAge(drainCtx)
	// The live registry: devices added, edited or retired from the admin
	// page or `ioc device` apply without a restart.
	go func() { _ = s.regf.Run(ctx) }()

	tok := client.Connect()
	tok.Wait()
	if err := tok.Error(); err != nil {
		close(s.stopping)
		_ = g.Wait()
		return fmt.Errorf("connecting to MQTT broker %s: %w (is the broker running? try deploy/local/services.sh status)", s.cfg.MQTT.URL, err)
	}
	s.ready.Store(true)
	s.log.Info("ingest running", "max_payload_bytes", s.cfg.MaxPayloadBytes, "kafka_batch_bytes", s.cfg.KafkaBatchBytes,
		"max_unacked_age", s.cfg.MaxUnackedAge, "mqtt", s.cfg.MQTT.URL, "topic", s.cfg.MQTT.Topic, "kafka", strings.Join(s.kafka.Brokers, ","),
		"registry_devices", s.reg.Load().Len())

	<-ctx.Done()
	// Shutdown: readiness off, stop intake, drain and acknowledge, disconnect.
	s.ready.Store(false)
	close(s.stopping)
	timer := time.AfterFunc(30*time.Second, cancelDrain)
	defer timer.Stop()
	err := g.Wait()
	client.Disconnect(500)
	s.log.Info("ingest stopped", "left_in_queue", len(s.queue))
	return err
}

// kafka-go allocates a batch's message slice at its full capacity
// (BatchSize messages) when the batch starts, and a batch starts per
// partition and linger: a large BatchSize is megabytes of garbage per
// millisecond (docs/performance.md). At one reading per MQTT message a
// partition batch carries a few records per 2 ms linger even at 50,000
// readings/s (6 partitions: ~17), so 256 slots were mostly garbage: 65 %
// of ingest's allocated bytes at 5,000 readings/s. 64 records per request
// still keep a partition far faster than the pipeline needs (a backlog
// drains in more, fuller requests). Its bytes are
// ingest.kafka_batch_bytes (under the brokers' message.max.bytes, with a
// margin for the per-record overhead kafka-go does not count).
const writerBatchSize = 64

// NewWriter is ingest's Kafka producer: every write waits for all
// in-sync replicas. The benchmark's Kafka hop uses it too, so that the hop
// alone is measured with ingest's own settings.
func NewWriter(cfg Config, kc kafkaconn.Config) *kafka.Writer {
	return kc.NewWriter(kafkaconn.WriterOptions{Linger: cfg.Linger, BatchSize: writerBatchSize,
		BatchBytes: int64(cmp.Or(cfg.KafkaBatchBytes, defaultKafkaBatchBytes))})
}

func (s *Service) mqttOptions() *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(s.cfg.MQTT.URL).
		SetClientID(s.cfg.MQTT.ClientID).
		SetUsername(s.cfg.MQTT.Username).
		SetPassword(s.cfg.MQTT.Password).
		SetCleanSession(false).   // the broker keeps our subscription and queues while we are away
		SetAutoAckDisabled(true). // acknowledge after Kafka has the records
		SetOrderMatters(true).
		SetStore(mqttconn.SubscriberStore()). // paho would keep every QoS 1 PUBLISH until its PUBACK, and never read it back
		SetKeepAlive(30 * time.Second).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(5 * time.Second).
		SetConnectTimeout(10 * time.Second)
	mqttconn.Use(o, s.cfg.MQTT.URL) // paho reads the socket unbuffered otherwise
	o.SetOnConnectHandler(func(c mqtt.Client) {
		s.connected.Store(true)
		s.m.connected.Set(1)
		tok := c.Subscribe(s.cfg.MQTT.Topic, 1, s.onMessage)
		tok.Wait()
		if err := tok.Error(); err != nil {
			s.log.Error("subscribing", "topic", s.cfg.MQTT.Topic, "err", err)
			return
		}
		s.log.Info("mqtt connected and subscribed", "topic", s.cfg.MQTT.Topic, "qos", 1)
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		s.connected.Store(false)
		s.m.connected.Set(0)
		s.log.Warn("mqtt connection lost; reconnecting", "err", err)
	})
	return o
}

// onMessage runs on paho's single delivery goroutine. It must not ack: the
// producer does that once Kafka has the records.
func (s *Service) onMessage(_ mqtt.Client, m mqtt.Message) {
	now := s.now()
	s.m.received.Inc()
	it := item{msg: m, received: now.UnixMilli()}
	readings, err := s.decode(m.Topic(), m.Payload(), now)
	if err != nil {
		rec, merr := s.deadLetter(m, now, err)
		if merr != nil {
			s.log.Error("encoding dead letter", "err", merr)
			return // not acknowledged: the broker redelivers
		}
		it.records, it.dead = append(it.records, rec), true
	} else {
		topic := s.kafka.Topic(event.TopicReadings)
		for i := range readings {
			val, merr := event.MarshalReading(&readings[i])
			if merr != nil {
				s.log.Error("encoding reading", "err", merr)
				return
			}
			it.records = append(it.records, kafka.Message{Topic: topic, Key: []byte(readings[i].DeviceID), Value: val})
		}
		s.m.readings.Add(float64(len(readings)))
	}
	select {
	case s.queue <- it:
		s.m.queueDepth.Set(float64(len(s.queue)))
	case <-s.stopping:
		// Not acknowledged: the broker keeps it in our session.
	}
}

// deadLetter is the dead-letter record of an MQTT message: its reason,
// the first 64 KiB of its payload with the length and SHA-256 of all of
// it, keyed by its (clipped) topic.
func (s *Service) deadLetter(m mqtt.Message, now time.Time, why error) (kafka.Message, error) {
	dl := event.NewDeadLetter("mqtt", m.Topic(), m.Payload(), now.UnixMilli(), why)
	val, err := event.MarshalDeadLetter(&dl)
	if err != nil {
		return kafka.Message{}, err
	}
	s.m.deadLetters.WithLabelValues(string(dl.Reason)).Inc()
	s.log.Debug("dead letter", "topic", dl.SourceTopic, "reason", dl.Reason, "detail", dl.Detail, "bytes", dl.RawLen)
	return kafka.Message{Topic: s.kafka.Topic(event.TopicDeadLetter), Key: []byte(dl.SourceTopic), Value: val}, nil
}

// Decode turns one MQTT message into readings exactly as the running role
// would (topic, partners, decoder, registry), with now as the receive
// time; `ioc deadletter replay` re-decodes dead letters with it.
func (s *Service) Decode(topic string, body []byte, now time.Time) ([]event.Reading, error) {
	return s.decode(topic, body, now)
}

func (s *Service) decode(topic string, body []byte, now time.Time) ([]event.Reading, error) {
	partner, device, err := event.ParseSensorTopic(topic, s.cfg.MQTT.MountPoint)
	if err != nil {
		return nil, err
	}
	if !s.partners[partner] {
		return nil, event.Invalid(event.ReasonBadTopic, "partner %q is not configured (ingest.partners)", partner)
	}
	readings, err := s.decoder.Decode(nil, partner, device, body, now)
	if err != nil {
		return nil, err
	}
	dev := s.reg.Load().Lookup(device)
	if dev != nil && dev.Partner != partner {
		// The broker's ACL keeps each partner to sensors/{partner}/#; the
		// registry says which partner runs which device. A contradiction is
		// a partner speaking for another's device: refused, with the reason.
		return nil, event.Invalid(event.ReasonPartnerMismatch, "device %q is registered to partner %q, not %q (device registry: ioc device list)", device, dev.Partner, partner)
	}
	if dev == nil && !s.unregistered.admit(partner, device) {
		return nil, event.Invalid(event.ReasonUnregisteredLimit, "partner %q already has %d devices not in the registry (ingest.max_unregistered_devices); declare this one in %s",
			partner, s.cfg.MaxUnregistered, s.cfg.RegistryFile)
	}
	for i := range readings {
		if dev != nil {
			readings[i].Ward = dev.Ward
			readings[i].Registered = true
		}
	}
	return readings, nil
}

// produce writes batches of queued messages to Kafka and acknowledges them
// to the broker once Kafka has them (or has refused them for good, see
// deliver). oldest is this producer's slot of Service.oldest.
func (s *Service) produce(ctx context.Context, w *kafka.Writer, oldest *atomic.Int64) error {
	batch := make([]item, 0, 64)
	for {
		batch = batch[:0]
		select {
		case it := <-s.queue:
			batch = append(batch, it)
		case <-s.stopping:
			select {
			case it := <-s.queue:
				batch = append(batch, it)
			default:
				return nil // stopped and drained
			}
		}
		oldest.Store(batch[0].received)
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case it := <-s.queue:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		s.m.queueDepth.Set(float64(len(s.queue)))
		if err := s.deliver(ctx, w, batch); err != nil {
			// Only when shutting down with Kafka unreachable: the messages are
			// not acknowledged and the broker redelivers them to our session.
			s.log.Error("giving up on a batch at shutdown; the broker will redeliver it", "messages", len(batch), "err", err)
			oldest.Store(0)
			return nil
		}
		for _, it := range batch {
			it.msg.Ack()
		}
		oldest.Store(0)
		s.m.acked.Add(float64(len(batch)))
	}
}

// deliver writes the records of batch until Kafka has taken all of them,
// retrying transient errors for as long as it takes (nothing is
// acknowledged meanwhile, and UnackedAge grows). A message whose records
// Kafka refuses for good (kafkaconn.Permanent: too large, a value it does
// not take) is dead-lettered instead (kafka_refused); if even its dead
// letter is refused, or it was a dead letter already, it is counted
// (ioc_ingest_dropped_total), logged with its topic, and acknowledged
// with the rest: retrying it could only stall intake for ever. It returns
// an error only when ctx ends first.
func (s *Service) deliver(ctx context.Context, w *kafka.Writer, batch []item) error {
	var recs []kafka.Message
	var owner []int
	for i := range batch {
		for _, r := range batch[i].records {
			recs = append(recs, r)
			owner = append(owner, i)
		}
	}
	refused, err := s.write(ctx, w, recs)
	if err != nil {
		return err
	}
	why := map[int]error{} // item → the first permanent error of its records
	for j, e := range refused {
		if e != nil && why[owner[j]] == nil {
			why[owner[j]] = e
		}
	}
	if len(why) == 0 {
		return nil
	}
	var dls []kafka.Message
	var dlOwner []int
	for i, e := range why {
		it := &batch[i]
		if it.dead {
			s.drop(it, "dead_letter_refused", e)
			continue
		}
		rec, merr := s.deadLetter(it.msg, time.UnixMilli(it.received), event.Invalid(event.ReasonKafkaRefused,
			"kafka refused this message's records for good: %v (check ingest.kafka_batch_bytes and the brokers' message.max.bytes)", e))
		if merr != nil {
			s.drop(it, "dead_letter_refused", merr)
			continue
		}
		s.log.Warn("kafka refused a message's records for good; dead-lettered as kafka_refused", "topic", clipTopic(it.msg.Topic()), "err", e)
		dls, dlOwner = append(dls, rec), append(dlOwner, i)
	}
	refused, err = s.write(ctx, w, dls)
	if err != nil {
		return err
	}
	for j, e := range refused {
		if e != nil {
			s.drop(&batch[dlOwner[j]], "dead_letter_refused", e)
		}
	}
	return nil
}

// drop counts and logs a message acknowledged without its records or its
// dead letter in Kafka.
func (s *Service) drop(it *item, reason string, err error) {
	s.m.dropped.WithLabelValues(reason).Inc()
	topic := clipTopic(it.msg.Topic())
	_, device, _ := event.ParseSensorTopic(it.msg.Topic(), s.cfg.MQTT.MountPoint)
	s.log.Error("kafka refused a message and its dead letter for good; acknowledged and dropped so that intake goes on",
		"topic", topic, "device", device, "bytes", len(it.msg.Payload()), "reason", reason, "err", err)
}

func clipTopic(t string) string {
	if len(t) > 256 {
		return t[:256] + "…"
	}
	return t
}

// recordBytes is at least what kafka-go counts for a record against
// BatchBytes.
func recordBytes(m *kafka.Message) int {
	n := 32 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// write writes recs and returns, per record, the permanent error that
// refused it (nil: written). Transient errors are retried with a backoff
// until ctx ends. A permanent error is confirmed by writing the record
// alone, through the solo writer (one record per Kafka batch: the shared
// writer merges concurrent calls to a partition into one batch), so that
// one bad record cannot condemn its neighbours.
func (s *Service) write(ctx context.Context, w *kafka.Writer, recs []kafka.Message) ([]error, error) {
	refused := make([]error, len(recs))
	var todo, solo []int
	for i := range recs {
		if n := recordBytes(&recs[i]); n > s.cfg.KafkaBatchBytes {
			refused[i] = fmt.Errorf("record of %d bytes exceeds ingest.kafka_batch_bytes (%d): %w", n, s.cfg.KafkaBatchBytes, kafka.MessageSizeTooLarge)
			continue
		}
		todo = append(todo, i)
	}
	backoff := 100 * time.Millisecond
	pending := make([]kafka.Message, 0, len(todo))
	for len(todo) > 0 || len(solo) > 0 {
		var idx []int
		alone := len(todo) == 0
		if alone {
			idx, solo = solo[:1], solo[1:]
		} else {
			idx, todo = todo, nil
		}
		pending = pending[:0]
		for _, i := range idx {
			pending = append(pending, recs[i])
		}
		start := time.Now()
		writer := w
		if alone {
			writer = s.solo
		}
		err := writer.WriteMessages(ctx, pending...)
		if err == nil {
			s.m.writeSeconds.Observe(time.Since(start).Seconds())
			backoff = 100 * time.Millisecond
			continue
		}
		s.m.writeErrors.Inc()
		var retry []int
		var werrs kafka.WriteErrors
		var tooLarge kafka.MessageTooLargeError
		switch {
		case errors.As(err, &werrs) && len(werrs) == len(idx):
			for j, e := range werrs {
				switch {
				case e == nil:
				case kafkaconn.Permanent(e) && alone:
					refused[idx[j]] = e
				case kafkaconn.Permanent(e):
					solo = append(solo, idx[j])
				default:
					retry = append(retry, idx[j])
				}
			}
		case errors.As(err, &tooLarge) && len(tooLarge.Message.Value) > 0:
			// kafka-go refused the call before writing anything, naming
			// the record; the others go again.
			for j := range pending {
				if len(pending[j].Value) > 0 && &pending[j].Value[0] == &tooLarge.Message.Value[0] {
					refused[idx[j]] = err
				} else {
					todo = append(todo, idx[j])
				}
			}
			continue
		default:
			retry = idx
		}
		if len(retry) == 0 {
			continue
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("writing %d records to kafka: %w", len(retry), err)
		}
		s.log.Warn("writing to kafka failed; retrying", "records", len(retry), "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, fmt.Errorf("writing %d records to kafka: %w", len(retry), ctx.Err())
		}
		backoff = min(backoff*2, 5*time.Second)
		todo = append(todo, retry...)
	}
	return refused, nil
}

// watchAge publishes UnackedAge as ioc_ingest_oldest_unacked_seconds and
// logs once when intake stalls and once when it flows again.
func (s *Service) watchAge(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	stalled := false
	for {
		age := s.UnackedAge()
		s.m.unackedAge.Set(age.Seconds())
		switch {
		case age > s.cfg.MaxUnackedAge && !stalled:
			stalled = true
			s.log.Error("intake stalled: the oldest MQTT message has waited for Kafka longer than ingest.max_unacked_age; /readyz answers 503",
				"age", age.Round(time.Second), "max_unacked_age", s.cfg.MaxUnackedAge, "queue_depth", len(s.queue))
		case age <= s.cfg.MaxUnackedAge && stalled:
			stalled = false
			s.log.Info("intake flows again", "age", age.Round(time.Second))
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// checkTopicLimits asks the brokers for the max.message.bytes of the
// topics ingest writes: a writer batch (ingest.kafka_batch_bytes, with
// Kafka's overhead) that a topic would refuse stops the start with what to
// change, instead of records refused at run time.
func (s *Service) checkTopicLimits(ctx context.Context) error {
	client, release := s.kafka.NewClient(15 * time.Second)
	defer release()
	req := &kafka.DescribeConfigsRequest{}
	for _, name := range []string{event.TopicReadings, event.TopicDeadLetter} {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{ResourceType: kafka.ResourceTypeTopic,
			ResourceName: s.kafka.Topic(name), ConfigNames: []string{"max.message.bytes"}})
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := client.DescribeConfigs(cctx, req)
	if err != nil {
		// An older or restricted broker: the configured bound stands, and
		// a record refused at run time is still handled (deliver).
		s.log.Warn("could not read the topics' max.message.bytes; relying on ingest.kafka_max_message_bytes", "err", err)
		return nil
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			s.log.Warn("could not read a topic's max.message.bytes", "topic", r.ResourceName, "err", r.Error)
			continue
		}
		for _, e := range r.ConfigEntries {
			limit, perr := strconv.Atoi(e.ConfigValue)
			if e.ConfigName != "max.message.bytes" || perr != nil {
				continue
			}
			if s.cfg.KafkaBatchBytes+batchOverhead > limit {
				return fmt.Errorf("kafka topic %s takes record batches of at most %d bytes (max.message.bytes), but ingest.kafka_batch_bytes is %d (plus %d of overhead): "+
					"lower ingest.kafka_batch_bytes to at most %d (it must stay at least %d), or raise the topic's max.message.bytes",
					r.ResourceName, limit, s.cfg.KafkaBatchBytes, batchOverhead, limit-batchOverhead, MaxRecordBytes())
			}
		}
	}
	return nil
}

// deviceCap remembers up to max distinct unregistered devices per partner
// (since start: a restart forgets them, which is a reset, not a leak).
type deviceCap struct {
	mu   sync.Mutex
	max  int
	seen map[string]map[string]struct{}
}

func newDeviceCap(max int) *deviceCap {
	return &deviceCap{max: max, seen: map[string]map[string]struct{}{}}
}

// admit reports whether device may be taken: already seen, or below the cap.
func (c *deviceCap) admit(partner, device string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.seen[partner]
	if _, ok := set[device]; ok {
		return true
	}
	if len(set) >= c.max {
		return false
	}
	if set == nil {
		set = map[string]struct{}{}
		c.seen[partner] = set
	}
	set[device] = struct{}{}
	return true
}
