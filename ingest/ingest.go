// Package ingest is the pipeline's intake: it subscribes to the partners'
// sensor topics over MQTT, decodes and validates each message, and produces
// readings (or dead letters) to Kafka. An MQTT message is acknowledged to the
// broker only after Kafka acknowledged its records on all in-sync replicas,
// so a crash at any point leaves the message with the broker for redelivery.
package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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
	cfg      Config
	kafka    kafkaconn.Config
	log      *slog.Logger
	m        *metrics
	reg      *registry.Registry
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
}

// item is one MQTT message with the Kafka records it became.
type item struct {
	msg     mqtt.Message
	records []kafka.Message
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
		cfg: cfg, kafka: kc, log: log.With("component", "ingest"), m: newMetrics(reg, cfg.QueueSize), reg: devices,
		decoder:      payload.Decoder{MaxBytes: cfg.MaxPayloadBytes, Limits: event.Limits{MaxPast: cfg.MaxPast, MaxFuture: cfg.MaxFuture}},
		partners:     map[string]bool{},
		unregistered: newDeviceCap(cfg.MaxUnregistered),
		queue:        make(chan item, cfg.QueueSize),
		stopping:     make(chan struct{}),
	}
	for _, p := range cfg.Partners {
		s.partners[p] = true
	}
	return s, nil
}

// Ready reports whether the role is connected and taking messages.
func (s *Service) Ready() bool { return s.ready.Load() && s.connected.Load() }

// Run consumes MQTT until ctx is cancelled, then drains what it holds to
// Kafka, acknowledges it, and disconnects.
func (s *Service) Run(ctx context.Context) error {
	if err := backoff.Retry(ctx, s.log, "creating kafka topics", func() error {
		return s.kafka.EnsureTopics(ctx, event.TopicReadings, event.TopicDeadLetter)
	}); err != nil {
		return err
	}
	writer := NewWriter(s.cfg, s.kafka)
	defer writer.Close()

	client := mqtt.NewClient(s.mqttOptions())
	// Producers drain the queue even after ctx is cancelled; they get their
	// own context with a deadline so a dead Kafka cannot hang shutdown.
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	var g errgroup.Group
	for i := 0; i < s.cfg.Producers; i++ {
		g.Go(func() error { return s.produce(drainCtx, writer) })
	}

	tok := client.Connect()
	tok.Wait()
	if err := tok.Error(); err != nil {
		close(s.stopping)
		_ = g.Wait()
		return fmt.Errorf("connecting to MQTT broker %s: %w (is the broker running? try deploy/local/services.sh status)", s.cfg.MQTT.URL, err)
	}
	s.ready.Store(true)
	s.log.Info("ingest running", "mqtt", s.cfg.MQTT.URL, "topic", s.cfg.MQTT.Topic, "kafka", strings.Join(s.kafka.Brokers, ","),
		"registry_devices", s.reg.Len())

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

// Limits of one record batch, per partition, of the Kafka writer.
const (
	// kafka-go allocates a batch's message slice at its full capacity
	// (BatchSize messages) when the batch starts, and a batch starts per
	// partition and linger: a large BatchSize is megabytes of garbage per
	// millisecond (docs/performance.md). A few hundred records per request
	// keep a partition far faster than the pipeline needs.
	writerBatchSize = 256
	// Kafka refuses a record batch above message.max.bytes (1 MiB and 12
	// bytes by default) and kafka-go does not count the per-record
	// overhead: keep a margin.
	writerBatchBytes = 900 << 10
)

// NewWriter is ingest's Kafka producer: every write waits for all
// in-sync replicas. The benchmark's Kafka hop uses it too, so that the hop
// alone is measured with ingest's own settings.
func NewWriter(cfg Config, kc kafkaconn.Config) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(kc.Brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: cfg.Linger,
		BatchSize:    writerBatchSize,
		BatchBytes:   writerBatchBytes,
		MaxAttempts:  3,
		Transport:    kc.Transport(),
	}
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
	now := time.Now()
	s.m.received.Inc()
	it := item{msg: m}
	readings, err := s.decode(m.Topic(), m.Payload(), now)
	if err != nil {
		dl := event.NewDeadLetter("mqtt", m.Topic(), m.Payload(), now.UnixMilli(), err)
		val, merr := event.MarshalDeadLetter(&dl)
		if merr != nil {
			s.log.Error("encoding dead letter", "err", merr)
			return // not acknowledged: the broker redelivers
		}
		it.records = append(it.records, kafka.Message{Topic: s.kafka.Topic(event.TopicDeadLetter), Key: []byte(m.Topic()), Value: val})
		s.m.deadLetters.WithLabelValues(string(dl.Reason)).Inc()
		s.log.Debug("dead letter", "topic", m.Topic(), "reason", dl.Reason, "detail", dl.Detail)
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

// Decode turns one MQTT message into readings exactly as the running role
// would (topic, partners, decoder, registry), with now as the receive
// time; `ioc deadletter replay` re-decodes dead letters with it.
func (s *Service) Decode(topic string, body []byte, now time.Time) ([]event.Reading, error) {
	return s.decode(topic, body, now)
}

func (s *Service) decode(topic string, body []byte, now time.Time) ([]event.Reading, error) {
	partner, device, err := ParseTopic(topic, s.cfg.MQTT.MountPoint)
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
	dev := s.reg.Lookup(device)
	if dev != nil && dev.Partner != partner {
		// The broker's ACL keeps each partner to sensors/{partner}/#; the
		// registry says which partner runs which device. A contradiction is
		// a partner speaking for another's device: refused, with the reason.
		return nil, event.Invalid(event.ReasonPartnerMismatch, "device %q is registered to partner %q, not %q (deploy/devices.csv)", device, dev.Partner, partner)
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
// to the broker once Kafka has them.
func (s *Service) produce(ctx context.Context, w *kafka.Writer) error {
	batch := make([]item, 0, 64)
	var records []kafka.Message
	for {
		batch, records = batch[:0], records[:0]
		select {
		case it := <-s.queue:
			batch = append(batch, it)
			records = append(records, it.records...)
		case <-s.stopping:
			select {
			case it := <-s.queue:
				batch = append(batch, it)
				records = append(records, it.records...)
			default:
				return nil // stopped and drained
			}
		}
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case it := <-s.queue:
				batch = append(batch, it)
				records = append(records, it.records...)
			default:
				break fill
			}
		}
		s.m.queueDepth.Set(float64(len(s.queue)))
		if err := s.write(ctx, w, records); err != nil {
			// Only when shutting down with Kafka unreachable: the messages are
			// not acknowledged and the broker redelivers them to our session.
			s.log.Error("giving up on a batch at shutdown; the broker will redeliver it", "messages", len(batch), "err", err)
			return nil
		}
		for _, it := range batch {
			it.msg.Ack()
		}
		s.m.acked.Add(float64(len(batch)))
	}
}

func (s *Service) write(ctx context.Context, w *kafka.Writer, records []kafka.Message) error {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := w.WriteMessages(ctx, records...)
		if err == nil {
			s.m.writeSeconds.Observe(time.Since(start).Seconds())
			return nil
		}
		s.m.writeErrors.Inc()
		if ctx.Err() != nil {
			return fmt.Errorf("writing %d records to kafka: %w", len(records), err)
		}
		s.log.Warn("writing to kafka failed; retrying", "records", len(records), "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("writing %d records to kafka: %w", len(records), ctx.Err())
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// ParseTopic splits sensors/{partner}/{device_id} (after the mount point,
// if any). Partner and device ids are 1 to 128 bytes of [A-Za-z0-9._:-]
// and do not start with a symbol: no MQTT wildcard (+ #), no $SYS-like
// "$" prefix, no markup, quotes, spaces or control characters, so an id is
// safe in a log line, a SQL literal and the wall's HTML.
func ParseTopic(topic, mount string) (partner, device string, err error) {
	if mount != "" {
		rest, ok := strings.CutPrefix(topic, mount)
		if !ok {
			return "", "", event.Invalid(event.ReasonBadTopic, "topic %q is outside the mount point %q", topic, mount)
		}
		topic = rest
	}
	parts := strings.Split(topic, "/")
	if len(parts) != 3 || parts[0] != "sensors" {
		return "", "", event.Invalid(event.ReasonBadTopic, "topic %q is not sensors/{partner}/{device_id}", topic)
	}
	for _, id := range parts[1:] {
		if !validID(id) {
			return "", "", event.Invalid(event.ReasonBadTopic, "topic %q: %q is not 1-128 characters of [A-Za-z0-9._:-] starting with a letter or digit", topic, id)
		}
	}
	return parts[1], parts[2], nil
}

func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '-' || c == '.' || c == '_' || c == ':')
		if !ok {
			return false
		}
	}
	return true
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
