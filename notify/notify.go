// Package notify is the notifier: it follows the alert transitions the
// stream's monitor publishes (ioc.alert.events.v1: open, escalated,
// acknowledged, resolved) and tells people on the channels the
// configuration chooses: a signed JSON webhook, e-mail over SMTP, and the
// chat services Telegram and Zalo OA through the webhook sender with a
// template (docs/notifications.md).
//
// It is a role of its own (`ioc notify`, and in `ioc run`): it only reads
// the alerts topic, so a channel that is down never holds up the alert
// rules or the pipeline. Each channel has a bounded queue and its own
// worker; every attempt is bounded by a timeout and retried with
// exponential backoff; every notification sent, retried, failed, dropped,
// deferred or cancelled is recorded in ClickHouse (notification_log), and
// what was sent is read back at start so that nothing is sent twice after a
// restart.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Service is the notifier role.
type Service struct {
	cfg     Config
	kafka   kafkaconn.Config
	ch      chconn.Config
	log     *slog.Logger
	m       *metrics
	senders map[string]sender
	queues  map[string]chan job
	led     *ledger
	rt      *router
	rec     *recorder
	ready   atomic.Bool
}

// New prepares the notifier; it reads the channels' secrets, so a missing
// secret file stops the start with a clear error.
func New(cfg Config, kc kafkaconn.Config, ch chconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	// Validate parses the channels' templates; both are idempotent.
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := &Service{cfg: cfg, kafka: kc, ch: ch, log: log.With("component", "notify"), m: newMetrics(reg),
		senders: map[string]sender{}, queues: map[string]chan job{}, led: newLedger()}
	names := make([]string, 0, len(cfg.Channels))
	for name := range cfg.Channels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := s.cfg.Channels[name]
		if !on(c.Enabled) {
			continue
		}
		snd, err := newSender(name, &c)
		if err != nil {
			return nil, err
		}
		s.senders[name] = snd
		s.queues[name] = make(chan job, c.Queue)
	}
	s.rt = newRouter(&s.cfg, s.led)
	s.rec = newRecorder(s.cfg.LogQueue, ch, s.log, s.m)
	return s, nil
}

// Probe reaches every enabled channel without sending a notification
// (`ioc doctor`): its secrets are read, an SMTP server is taken through
// STARTTLS and authentication, an HTTP receiver's host is connected to.
// It returns one result per channel, nil when reachable.
func (s *Service) Probe(ctx context.Context) map[string]error {
	out := map[string]error{}
	for name, snd := range s.senders {
		err := snd.probe(ctx)
		if err != nil {
			err = fmt.Errorf("%s: %w", snd.target(), err)
		}
		out[name] = err
	}
	return out
}

// Channels lists the enabled channels, the ones it sends to.
func (s *Service) Channels() []string {
	out := make([]string, 0, len(s.senders))
	for name := range s.senders {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Ready reports whether the notifier follows the alerts.
func (s *Service) Ready() bool { return s.ready.Load() }

// Run follows the alerts until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var conn driver.Conn
	if err := backoff.Retry(ctx, s.log, "connecting to clickhouse (notification log)", func() (err error) {
		conn, err = s.ch.Open(ctx)
		return err
	}); err != nil {
		return nil // shutting down
	}
	defer conn.Close()
	if err := backoff.Retry(ctx, s.log, "reading the notifications sent from clickhouse", func() error {
		return s.rec.load(ctx, conn, s.led, time.Now().Add(-s.cfg.Remember))
	}); err != nil {
		return nil
	}
	// The open alerts as ClickHouse holds them: followed (and their
	// repeats sent) even when the topic no longer has their transitions.
	var open []event.AlertEvent
	if err := backoff.Retry(ctx, s.log, "reading the open alerts from clickhouse", func() (err error) {
		open, err = s.rec.openAlerts(ctx, conn, s.cfg.Remember)
		return err
	}); err != nil {
		return nil
	}
	now := time.Now()
	for _, ev := range open {
		s.dispatch(s.rt.event(ev, now))
	}
	s.log.Info("open alerts read from clickhouse", "alerts", len(open))
	if err := backoff.Retry(ctx, s.log, "creating the alerts topic", func() error {
		return s.kafka.EnsureTopics(ctx, event.TopicAlerts)
	}); err != nil {
		return nil
	}
	in := make(chan event.AlertEvent, 4096)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.rec.run(gctx, conn) })
	for name, q := range s.queues {
		c := s.cfg.Channels[name]
		snd := s.senders[name]
		g.Go(func() error { s.work(gctx, name, &c, snd, q); return nil })
	}
	g.Go(func() error {
		return s.kafka.Tail(gctx, s.log, event.TopicAlerts, s.cfg.Replay, func() { s.ready.Store(true) }, func(msg kafka.Message) {
			var ev event.AlertEvent
			if err := json.Unmarshal(msg.Value, &ev); err != nil || ev.AlertID == "" || ev.ID == "" {
				s.m.badEvents.Inc()
				return // the stream's writer dead-letters what it cannot store; the notifier skips it
			}
			select {
			case in <- ev:
			case <-gctx.Done():
			}
		})
	})
	g.Go(func() error { return s.loop(gctx, in) })
	s.log.Info("notifier running", "channels", s.Channels(), "routes", len(s.cfg.Routes))
	err := g.Wait()
	s.ready.Store(false)
	return err
}

func (s *Service) loop(ctx context.Context, in <-chan event.AlertEvent) error {
	tick := time.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-in:
			s.dispatch(s.rt.event(ev, time.Now()))
		case now := <-tick.C:
			s.dispatch(s.rt.tick(now))
			for name, q := range s.queues {
				s.m.queued.WithLabelValues(name).Set(float64(len(q)))
			}
		case now := <-prune.C:
			s.led.prune(now.Add(-s.cfg.Remember).UnixMilli())
			s.rt.prune(now.Add(-s.cfg.Remember).UnixMilli())
		}
	}
}

// dispatch queues jobs without ever waiting: a full queue drops the job,
// recorded.
func (s *Service) dispatch(jobs []job) {
	for _, j := range jobs {
		if !j.deferred.IsZero() {
			s.record(j, StatusDeferred, 0, "quiet hours until "+j.deferred.In(event.Location).Format("15:04 02/01"), 0)
			continue
		}
		q := s.queues[j.channel]
		if q == nil {
			continue
		}
		select {
		case q <- j:
		default:
			s.record(j, StatusDropped, 0, fmt.Sprintf("the channel's queue is full (%d waiting): the channel is down or too slow; raise notify.channels.%s.queue", cap(q), j.channel), 0)
			s.log.Error("notification dropped: channel queue full", "channel", j.channel, "alert", j.notice.Alert.ID, "notice", j.notice.Notice)
		}
	}
}

// Statuses of notification_log.
const (
	StatusSent      = "sent"
	StatusRetry     = "retry"
	StatusFailed    = "failed"
	StatusDropped   = "dropped"
	StatusDeferred  = "deferred"
	StatusCancelled = "cancelled"
)

func (s *Service) record(j job, status string, attempt int, errText string, latency time.Duration) {
	s.m.notifications.WithLabelValues(j.channel, status).Inc()
	c := s.cfg.Channels[j.channel]
	target := ""
	if snd := s.senders[j.channel]; snd != nil {
		target = snd.target()
	}
	s.rec.add(logRow{channel: j.channel, kind: c.Kind, n: j.notice, status: status, attempt: attempt, target: target, err: errText,
		latency: latency, at: time.Now()})
}

// work sends one channel's notifications, one at a time, each retried
// until it is sent, fails for good, or retry_for has passed.
func (s *Service) work(ctx context.Context, name string, c *ChannelConfig, snd sender, q <-chan job) {
	for {
		var j job
		select {
		case <-ctx.Done():
			return
		case j = <-q:
		}
		switch j.notice.Notice {
		case NoticeOpen, NoticeEscalated, NoticeRepeat:
			if _, stop := s.rt.stopped.Load(j.notice.Alert.ID); stop {
				s.record(j, StatusCancelled, 0, "acknowledged or resolved before it went out", 0)
				continue
			}
		}
		rctx, cancel := context.WithTimeout(ctx, c.RetryFor)
		attempt := 0
		var last error
		err := backoff.Policy{First: c.RetryFirst, Max: c.RetryMax}.Retry(rctx, s.log.With("channel", name), "sending notification", func() error {
			attempt++
			start := time.Now()
			err := snd.send(rctx, &j.notice)
			lat := time.Since(start)
			s.m.latency.WithLabelValues(name).Observe(lat.Seconds())
			if err == nil {
				s.record(j, StatusSent, attempt, "", lat)
				return nil
			}
			last = err
			if isPermanent(err) {
				return nil // recorded failed below, not retried
			}
			s.record(j, StatusRetry, attempt, err.Error(), lat)
			return err
		})
		cancel()
		switch {
		case last != nil && isPermanent(last):
			s.record(j, StatusFailed, attempt, last.Error(), 0)
			s.log.Error("notification failed; not retried", "channel", name, "alert", j.notice.Alert.ID, "err", last)
		case err != nil && ctx.Err() == nil:
			s.record(j, StatusFailed, attempt, fmt.Sprintf("gave up after %d attempts in %s: %v", attempt, c.RetryFor, last), 0)
			s.log.Error("notification failed; retries exhausted", "channel", name, "alert", j.notice.Alert.ID, "attempts", attempt, "err", last)
		}
	}
}

type metrics struct {
	notifications *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	queued        *prometheus.GaugeVec
	badEvents     prometheus.Counter
	logDropped    prometheus.Counter
	logFailures   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_notify_notifications_total",
			Help: "Notification attempts and decisions, by channel and status (sent, retry, failed, dropped, deferred, cancelled)."}, []string{"channel", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ioc_notify_send_seconds",
			Help: "Time of one send attempt, by channel.", Buckets: prometheus.ExponentialBuckets(0.01, 3, 9)}, []string{"channel"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_notify_queued",
			Help: "Notifications waiting for their channel (bounded by notify.channels.*.queue)."}, []string{"channel"}),
		badEvents: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_notify_bad_events_total",
			Help: "Records of the alerts topic the notifier could not read."}),
		logDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_notify_log_dropped_total",
			Help: "Notification records not stored in ClickHouse because notify.log_queue was full."}),
		logFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_notify_log_write_failures_total",
			Help: "Failed inserts into notification_log (retried)."}),
	}
	if reg != nil {
		reg.MustRegister(m.notifications, m.latency, m.queued, m.badEvents, m.logDropped, m.logFailures)
	}
	return m
}
