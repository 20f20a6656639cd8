package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
	"github.com/sonla-ioc/ioc/internal/smtptest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/schema"
)

func testClickHouse(t *testing.T) (chconn.Config, driver.Conn) {
	t.Helper()
	return chtest.Migrated(t, "ioc_notify", schema.Migrate)
}

func publishAlerts(t *testing.T, kc kafkaconn.Config, evs ...event.AlertEvent) {
	t.Helper()
	w := kc.NewWriter(kafkaconn.WriterOptions{})
	defer w.Close()
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := w.WriteMessages(ctx, kafka.Message{Topic: kc.Topic(event.TopicAlerts), Key: []byte(ev.AlertID), Value: b})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// running starts a notifier and stops it when the test ends (or stop is called).
func running(t *testing.T, cfg Config, kc kafkaconn.Config, ch chconn.Config) (s *Service, stop func()) {
	t.Helper()
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn + 10
	if os.Getenv("IOC_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	s, err := New(cfg, kc, ch, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("notifier stopped with %v", err)
			}
		}
	}
	t.Cleanup(stop)
	testpoll.Eventually(t, 60*time.Second, "notifier ready", func() (bool, string) { return s.Ready(), "" })
	return s, stop
}

// notices lists what a receiver got as "notice#repeat" in order, checking
// every signature.
func notices(t *testing.T, rec *received) []string {
	t.Helper()
	var out []string
	for _, r := range rec.all() {
		if r.sigOK != nil {
			t.Errorf("a request with a bad signature: %v", r.sigOK)
		}
		var n Notice
		if err := json.Unmarshal(r.body, &n); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		out = append(out, fmt.Sprintf("%s:%s#%d", n.Alert.ID, n.Notice, n.Repeat))
	}
	return out
}

func logStatuses(t *testing.T, conn driver.Conn, ch chconn.Config, channel string) map[string]uint64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT status, count() FROM (SELECT DISTINCT record_id, status FROM "+
		ch.Table("notification_log")+" WHERE channel = ?) GROUP BY status", channel)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var s string
		var n uint64
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// The notifier on the real Kafka and ClickHouse: an alert on the alerts
// topic reaches a signed webhook and a real mailbox, repeats while nobody
// acknowledges it, stops when acknowledged, and the resolution sends a
// resolved notice. A channel answering 500 is retried and recorded failed,
// a hanging one fills its bounded queue and drops (recorded): neither
// holds up the good channels. After a restart nothing is sent again.
func TestNotifierEndToEndOnRealServices(t *testing.T) {
	kc := kafkatest.Topics(t, "notify-test", 1, event.TopicAlerts)
	ch, conn := testClickHouse(t)
	const secret = "notifier-test-secret-0123456789"
	good, goodRec := receiver(t, secret, nil)
	down, downRec := receiver(t, secret, func(int) int { return http.StatusInternalServerError })
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	mail := smtptest.Start(t)
	secretFile := writeFile(t, secret)
	mailCh := emailChannel(mail, "truc.ban@sonla.gov.vn")
	cfg := Config{BaseURL: "https://ioc.sonla.gov.vn", Tick: 50 * time.Millisecond,
		Channels: map[string]ChannelConfig{
			"good": {Kind: KindWebhook, URL: good.URL, SecretFile: secretFile},
			"down": {Kind: KindWebhook, URL: down.URL, SecretFile: secretFile, RetryFirst: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond,
				RetryFor: 500 * time.Millisecond},
			"hang": {Kind: KindWebhook, URL: hang.URL, SecretFile: secretFile, Timeout: 10 * time.Second, Queue: 1},
			"mail": mailCh,
		},
		Routes: []RouteConfig{
			{Name: "oncall", Channels: []string{"good", "mail", "down", "hang"}, RepeatEvery: 2 * time.Second, MaxRepeats: 2},
		}}
	s, stop := running(t, cfg, kc, ch)

	now := time.Now().Truncate(time.Millisecond)
	base := testAlert()
	base.AlertID = event.AlertID("water_level", "water-namla-1", now.UnixMilli())
	base.OpenedMs = now.UnixMilli()
	open := transition(base, event.AlertOpen, 1, now)
	// A second alert right after: it finds the hanging channel busy with
	// the first and its one-place queue full or about to be.
	other := base
	other.AlertID, other.Subject = event.AlertID("water_level", "water-namla-2", now.UnixMilli()), "water-namla-2"
	third := other
	third.AlertID, third.Subject = event.AlertID("water_level", "water-namla-3", now.UnixMilli()), "water-namla-3"
	publishAlerts(t, kc, open, transition(other, event.AlertOpen, 1, now), transition(third, event.AlertOpen, 1, now))

	id := base.AlertID
	has := func(list []string, want string) bool {
		for _, x := range list {
			if x == want {
				return true
			}
		}
		return false
	}
	testpoll.Eventually(t, 30*time.Second, "open and two repeats on the good webhook", func() (bool, string) {
		got := notices(t, goodRec)
		return has(got, id+":open#0") && has(got, id+":repeat#1") && has(got, id+":repeat#2"), strings.Join(got, " ")
	})
	testpoll.Eventually(t, 30*time.Second, "the mails in the mailbox", func() (bool, string) {
		n := len(mail.Messages(t))
		return n >= 3, fmt.Sprintf("%d messages", n) // the first alert's open and repeats (and the others')
	})
	// Acknowledged: no more repeats. A fourth alert with repeats and no
	// bound shows the acknowledged one stays quiet while time passes.
	ack := transition(base, event.AlertAcknowledged, 2, time.Now())
	publishAlerts(t, kc, ack)
	testpoll.Eventually(t, 20*time.Second, "the acknowledgement taken", func() (bool, string) {
		_, ok := s.rt.stopped.Load(id)
		return ok, ""
	})
	before := len(notices(t, goodRec))
	resolved := transition(base, event.AlertResolved, 3, time.Now())
	publishAlerts(t, kc, resolved)
	testpoll.Eventually(t, 20*time.Second, "resolved notice", func() (bool, string) {
		got := notices(t, goodRec)
		return has(got, id+":resolved#0"), strings.Join(got, " ")
	})
	for _, n := range notices(t, goodRec)[before:] {
		if strings.HasPrefix(n, id+":repeat") {
			t.Errorf("a repeat after the acknowledgement: %s", n)
		}
	}
	// Idempotency keys are unique on the good channel.
	seen := map[string]bool{}
	for _, r := range goodRec.all() {
		k := r.header.Get(HeaderIdempotency)
		if seen[k] {
			t.Errorf("idempotency key %s sent twice", k)
		}
		seen[k] = true
	}
	// The mailbox: subject decodes with its diacritics.
	var subjects []string
	for _, m := range mail.Messages(t) {
		subjects = append(subjects, decodeSubject(t, m.Header.Get("Subject")))
	}
	if !slicesContainsPrefix(subjects, "IOC Sơn La [Báo động] Mực nước Báo động 2") ||
		!slicesContainsPrefix(subjects, "IOC Sơn La [Báo động · nhắc lại lần 1, chưa ai xác nhận]") {
		t.Errorf("subjects: %q", subjects)
	}
	// The log: sent rows for the good channels, retries then failed for
	// the one answering 500, dropped for the hanging one.
	testpoll.Eventually(t, 30*time.Second, "notification_log", func() (bool, string) {
		g, d, h := logStatuses(t, conn, ch, "good"), logStatuses(t, conn, ch, "down"), logStatuses(t, conn, ch, "hang")
		return g[StatusSent] >= 4 && d[StatusRetry] >= 2 && d[StatusFailed] >= 1 && h[StatusDropped] >= 1,
			fmt.Sprintf("good %v, down %v, hang %v", g, d, h)
	})
	if len(downRec.all()) < 2 {
		t.Errorf("the channel answering 500 was tried %d times", len(downRec.all()))
	}

	// Restart: the topic is replayed; nothing is sent again. A new alert
	// afterwards (one partition: after the replay) shows the notifier
	// has read everything before it.
	sentBefore := len(goodRec.all())
	stop()
	s2, _ := running(t, cfg, kc, ch)
	_ = s2
	marker := base
	marker.AlertID, marker.Subject = event.AlertID("water_level", "water-namla-9", time.Now().UnixMilli()), "water-namla-9"
	publishAlerts(t, kc, transition(marker, event.AlertOpen, 1, time.Now()))
	testpoll.Eventually(t, 30*time.Second, "the marker alert after the restart", func() (bool, string) {
		got := notices(t, goodRec)
		return has(got, marker.AlertID+":open#0"), strings.Join(got, " ")
	})
	var again []string
	for _, r := range goodRec.all()[sentBefore:] {
		k := r.header.Get(HeaderIdempotency)
		if seen[k] {
			again = append(again, k)
		}
	}
	sort.Strings(again)
	if len(again) > 0 {
		t.Errorf("sent again after the restart: %v", again)
	}
}

func decodeSubject(t *testing.T, raw string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func slicesContainsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// An alert still open in ClickHouse whose transitions the alerts topic
// does not hold (older than the topic's retention, or beyond replay) is
// followed after a restart: nobody acknowledged it, so its repeats go out.
func TestNotifierFollowsOpenAlertsFromClickHouse(t *testing.T) {
	kc := kafkatest.Topics(t, "notify-seed", 1, event.TopicAlerts)
	ch, conn := testClickHouse(t)
	const secret = "notifier-seed-secret-0123456789"
	hook, rec := receiver(t, secret, nil)
	opened := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	ev := testAlert()
	ev.AlertID = event.AlertID("water_level", "water-namla-1", opened.UnixMilli())
	ev.OpenedMs, ev.AtMs = opened.UnixMilli(), opened.UnixMilli()
	ev.ID = event.AlertTransitionID(ev.AlertID, event.AlertOpen, 0, "")
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+ch.Table("alert_events_raw")+
		" (event_id, alert_id, rule, kind, severity, state, seq, level, acked, subject, device_id, partner, ward, metric, value,"+
		" threshold, stage, message, opened_at, opened_ms, at, at_ms, operator, note)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ev.ID, ev.AlertID, ev.Rule, ev.Kind, ev.Severity, ev.State, uint32(1), uint8(0), uint8(0), ev.Subject, ev.DeviceID,
		ev.Partner, ev.Ward, ev.Metric, ev.Value, ev.Threshold, ev.Stage, ev.Message, opened, ev.OpenedMs, opened, ev.AtMs, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Tick: 50 * time.Millisecond,
		Channels: map[string]ChannelConfig{"hook": {Kind: KindWebhook, URL: hook.URL, SecretFile: writeFile(t, secret)}},
		Routes:   []RouteConfig{{Channels: []string{"hook"}, RepeatEvery: time.Second}}}
	running(t, cfg, kc, ch)
	testpoll.Eventually(t, 30*time.Second, "a repeat of the alert open in clickhouse", func() (bool, string) {
		got := notices(t, rec)
		for _, n := range got {
			if n == ev.AlertID+":repeat#1" {
				return true, ""
			}
		}
		return false, strings.Join(got, " ")
	})
	for _, n := range notices(t, rec) {
		if strings.HasSuffix(n, ":open#0") {
			t.Errorf("a two-hour-old transition sent as itself: %s", n)
		}
	}
}
