package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream"
)

// Dead letters are listed by reason and replayed after a fix, on the real
// services: a reading refused because its partner was not configured is
// replayed once the partner is added, lands in <db>.sensor_readings once
// even when replayed twice, and every attempt is recorded; one that is
// still invalid stays a dead letter, recorded with its current reason.
func TestDeadLetterListAndReplay(t *testing.T) {
	cfg, run := scratchConfig(t, "dlreplay")
	cfg.Ingest.RegistryFile = "../../deploy/devices.csv"
	cfg.Stream.RegistryFile = "../../deploy/devices.csv"
	cfg.Stream.GroupID = "dlreplay-" + run
	cfg.Stream.MaxAge = 200 * time.Millisecond
	off := false
	cfg.Stream.Status.Enabled = &off
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := stream.New(cfg.Stream, cfg.Kafka, cfg.ClickHouse, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stream: %v", err)
		}
		conn.Close()
	})
	testpoll.Eventually(t, 60*time.Second, "stream ready", func() (bool, string) { return st.Ready(), "not ready" })
	count := func(q string, args ...any) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, strings.ReplaceAll(q, "{db}", cfg.ClickHouse.Database), args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		testpoll.Eventually(t, 30*time.Second, what, func() (bool, string) { return cond(), "not yet" })
	}

	// Three dead letters as ingest would have written them (through Kafka
	// and stream): an unconfigured partner, a NaN, and one stream rejected.
	received := time.Now().Add(-time.Hour).UnixMilli()
	observed := float64(received-60000) / 1000
	fixable := event.NewDeadLetter("mqtt", "sensors/acme/aq-acme-1", []byte(fmt.Sprintf(`[{"n":"pm25","u":"ug/m3","v":12.5,"t":%.3f}]`, observed)),
		received, event.Invalid(event.ReasonBadTopic, `partner "acme" is not configured (ingest.partners)`))
	broken := event.NewDeadLetter("mqtt", "sensors/vnpt/aq-x", []byte(`[{"n":"pm25","v":NaN}]`), received+1, event.Invalid(event.ReasonBadValue, "NaN"))
	fromKafka := event.NewDeadLetter("kafka", "t/0/1", []byte(`{}`), received+2, event.Invalid(event.ReasonBadID, "x"))
	// An oversize payload whose kept 64 KiB prefix alone would decode: never replayed.
	cut := event.NewDeadLetter("mqtt", "sensors/acme/aq-acme-2", []byte(fmt.Sprintf(`[{"n":"pm25","u":"ug/m3","v":1,"t":%.3f}]`, observed)+strings.Repeat(" ", 300<<10)),
		received+3, event.Invalid(event.ReasonOversize, "payload is 307244 bytes, limit 262144"))
	w := cfg.Kafka.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond, MaxAttempts: 10})
	for _, d := range []event.DeadLetter{fixable, broken, fromKafka, cut} {
		b, _ := event.MarshalDeadLetter(&d)
		if err := w.WriteMessages(ctx, kafka.Message{Topic: cfg.Kafka.Topic(event.TopicDeadLetter), Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	eventually("dead letters stored", func() bool { return count("SELECT count() FROM {db}.dead_letters") == 4 })

	var out bytes.Buffer
	if err := listDeadLetters(ctx, cfg, dlFilter{limit: 10}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bad_topic", "bad_value", "bad_event_id", fixable.ID, `"[{\"n\":\"pm25\",\"v\":NaN}]"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list output lacks %q:\n%s", want, out.String())
		}
	}

	// Before the fix: still invalid, nothing produced.
	res, err := replayDeadLetters(ctx, cfg, dlFilter{reason: "bad_topic", limit: 10}, false, "tester", "before", &out, log)
	if err != nil || res.Replayed != 0 || res.StillInvalid != 1 {
		t.Fatalf("replay before the fix: %+v, %v", res, err)
	}
	// The fix: acme becomes a partner. Replayed twice, stored once.
	cfg.Ingest.Partners = []string{"viettel", "vnpt", "acme"}
	for i := range 2 {
		res, err := replayDeadLetters(ctx, cfg, dlFilter{ids: []string{fixable.ID, broken.ID, fromKafka.ID, cut.ID}, limit: 10}, false, "tester", "partner acme added", &out, log)
		if err != nil || res.Replayed != 1 || res.Readings != 1 || res.StillInvalid != 1 || res.Skipped != 2 {
			t.Fatalf("replay %d: %+v, %v\n%s", i, res, err, out.String())
		}
	}
	id := event.ReadingID("acme", "aq-acme-1", "pm25", received-60000)
	eventually("replayed reading stored", func() bool {
		return count("SELECT count() FROM {db}.sensor_readings_raw WHERE event_id = ?", id) == 2
	})
	if n := count("SELECT count() FROM {db}.sensor_readings WHERE event_id = ? AND value = 12.5", id); n != 1 {
		t.Errorf("replayed twice: %d rows in the view, want 1", n)
	}
	if n := count("SELECT count() FROM {db}.dead_letter_replays WHERE dl_id = ? AND outcome = 'replayed' AND has(event_ids, ?) AND note = 'partner acme added'", fixable.ID, id); n != 2 {
		t.Errorf("%d replay records of the fixed dead letter, want 2", n)
	}
	if n := count("SELECT count() FROM {db}.dead_letter_replays WHERE dl_id = ? AND outcome = 'still_invalid' AND reason = 'bad_value'", broken.ID); n != 2 {
		t.Errorf("%d still-invalid records of the NaN, want 2", n)
	}
	if n := count("SELECT count() FROM {db}.dead_letter_replays WHERE outcome = 'skipped'"); n != 4 {
		t.Errorf("%d skipped records, want 4", n)
	}
	if n := count("SELECT count() FROM {db}.sensor_readings_raw WHERE device_id = 'aq-acme-2'"); n != 0 {
		t.Errorf("the kept prefix of an oversize payload was replayed (%d rows)", n)
	}
}
