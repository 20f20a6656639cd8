package simulate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// ScenarioOptions say how a scenario is published.
type ScenarioOptions struct {
	Name string // h1-2021
	// Speed replays in accelerated real time: 86400 plays one day of the
	// scenario per second. 0 publishes as fast as possible. Events dated
	// before the scenario's first day (history, e.g. 2020 for the
	// year-on-year figures) are published at once in both cases.
	Speed float64
	// Shuffle publishes in a random (seeded) order instead of time order:
	// out-of-order delivery, as when several systems catch up at once.
	Shuffle bool
	Seed    uint64
	// HTTPURL, if set, posts the events to the ingest role's HTTP endpoint
	// (http://host:port) with Token instead of producing to Kafka.
	HTTPURL string
	Token   string
}

// Start of the scenarios' own period (history before it is published at once).
var scenarioStart = map[string]time.Time{"h1-2021": time.Date(2021, 1, 1, 0, 0, 0, 0, event.Location)}

// RunScenario publishes a scenario's events and returns when all are
// acknowledged (by Kafka on all in-sync replicas, or by the HTTP endpoint,
// which answers after Kafka).
func RunScenario(ctx context.Context, opts ScenarioOptions, kc kafkaconn.Config, log *slog.Logger) error {
	mk, ok := Scenarios[opts.Name]
	if !ok {
		return fmt.Errorf("unknown scenario %q (known: h1-2021)", opts.Name)
	}
	if opts.Speed < 0 {
		return fmt.Errorf("speed %v must not be negative", opts.Speed)
	}
	log = log.With("component", "simulate", "scenario", opts.Name)
	sc := mk()
	events := sc.Events
	if opts.Shuffle {
		events = append([]ScenarioEvent(nil), events...)
		rng := rand.New(rand.NewPCG(opts.Seed, 99))
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	}
	var send func(context.Context, []ScenarioEvent) error
	if opts.HTTPURL != "" {
		send = httpSender(opts.HTTPURL, opts.Token)
	} else {
		if err := kc.EnsureTopics(ctx, event.AdminTopics()...); err != nil { // waits for their leaders
			return err
		}
		w := kc.NewWriter(kafkaconn.WriterOptions{BatchSize: 500, MaxAttempts: 5})
		defer w.Close()
		send = kafkaSender(w, kc)
	}
	log.Info("publishing scenario", "events", len(events), "as_of", sc.AsOf.Format(time.RFC3339), "speed", opts.Speed,
		"shuffle", opts.Shuffle, "via", map[bool]string{true: "http", false: "kafka"}[opts.HTTPURL != ""])
	start := time.Now()
	simStart := scenarioStart[opts.Name]
	const chunk = 1000
	sent := 0
	lastLog := time.Now()
	for sent < len(events) {
		n := min(chunk, len(events)-sent)
		if opts.Speed > 0 && !opts.Shuffle {
			// Accelerated real time: send what is due by now, or wait for
			// the next event's turn.
			next := events[sent].SendAt
			if !next.Before(simStart) {
				due := start.Add(time.Duration(float64(next.Sub(simStart)) / opts.Speed))
				if wait := time.Until(due); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				simNow := simStart.Add(time.Duration(float64(time.Since(start)) * opts.Speed))
				n = 0
				for sent+n < len(events) && n < chunk && !events[sent+n].SendAt.After(simNow) {
					n++
				}
				n = max(n, 1)
			}
		}
		if err := retry(ctx, log, func() error { return send(ctx, events[sent:sent+n]) }); err != nil {
			return fmt.Errorf("publishing scenario events %d..%d: %w", sent, sent+n, err)
		}
		sent += n
		if time.Since(lastLog) > 5*time.Second {
			log.Info("scenario progress", "sent", sent, "of", len(events), "at", events[sent-1].SendAt.Format(time.DateOnly))
			lastLog = time.Now()
		}
	}
	log.Info("scenario published", "events", sent, "took", time.Since(start).Round(time.Millisecond),
		"tiles_as_of", sc.AsOf.Format(time.RFC3339))
	return nil
}

func kafkaSender(w *kafka.Writer, kc kafkaconn.Config) func(context.Context, []ScenarioEvent) error {
	return func(ctx context.Context, evs []ScenarioEvent) error {
		msgs := make([]kafka.Message, len(evs))
		for i, se := range evs {
			b, err := event.MarshalAdmin(se.Event)
			if err != nil {
				return err
			}
			msgs[i] = kafka.Message{Topic: kc.Topic(event.AdminTopic(se.Event.Kind())), Key: []byte(se.Event.EntityID()), Value: b}
		}
		return w.WriteMessages(ctx, msgs...)
	}
}

// httpSender posts runs of events of one kind as NDJSON.
func httpSender(base, token string) func(context.Context, []ScenarioEvent) error {
	client := &http.Client{Timeout: 60 * time.Second}
	base = strings.TrimRight(base, "/")
	post := func(ctx context.Context, kind event.AdminKind, body []byte) error {
		backoff := 200 * time.Millisecond
		for attempt := 0; ; attempt++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events/"+string(kind), bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-ndjson")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err == nil {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusAccepted:
					return nil
				case resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
					return fmt.Errorf("POST %s: %s: %s", kind, resp.Status, msg)
				}
				err = fmt.Errorf("POST %s: %s: %s", kind, resp.Status, msg)
			}
			if attempt >= 8 || ctx.Err() != nil {
				return err
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}
	// One request per kind for a chunk of events (their order across kinds
	// does not matter; within a kind it is kept).
	return func(ctx context.Context, evs []ScenarioEvent) error {
		bodies := map[event.AdminKind]*bytes.Buffer{}
		for _, se := range evs {
			b, err := event.MarshalAdmin(se.Event)
			if err != nil {
				return err
			}
			k := se.Event.Kind()
			if bodies[k] == nil {
				bodies[k] = &bytes.Buffer{}
			}
			bodies[k].Write(b)
			bodies[k].WriteByte('\n')
		}
		for _, k := range event.AdminKinds {
			if body := bodies[k]; body != nil {
				if err := post(ctx, k, body.Bytes()); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// retry runs a send until it succeeds, a few times: a batch sent twice is
// harmless (event ids are deterministic and stream deduplicates).
func retry(ctx context.Context, log *slog.Logger, send func() error) error {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := send()
		if err == nil || attempt == 6 || ctx.Err() != nil {
			return err
		}
		log.Warn("publishing failed; sending the batch again", "attempt", attempt, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff *= 2
	}
}
