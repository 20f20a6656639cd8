package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/smtptest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

func testAlert() event.AlertEvent {
	opened := time.Date(2026, 7, 14, 2, 10, 0, 0, event.Location)
	return event.AlertEvent{ID: "tr-1", AlertID: "al-1", Rule: "water_level", Kind: "threshold", Severity: event.SeverityAlert,
		State: event.AlertOpen, Seq: 1, Subject: "water-namla-1", DeviceID: "water-namla-1", Partner: "viettel", Ward: "Xã Chiềng Cọ",
		Metric: "level", Value: 2.2, Threshold: 2.0, Stage: "Báo động 2",
		Message: "Mực nước Báo động 2: 2.2 m — Trạm đo mực nước suối Nậm La — Xã Chiềng Cọ", OpenedMs: opened.UnixMilli(), AtMs: opened.UnixMilli()}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func emailChannel(s *smtptest.Server, to ...string) ChannelConfig {
	c := ChannelConfig{Kind: KindEmail, From: "IOC Sơn La <ioc@sonla.gov.vn>", To: to,
		SMTP:    SMTPConfig{Addr: s.Addr, Username: s.User, PasswordFile: s.PasswordFile, CAFile: s.CAFile, ServerName: "localhost"},
		Timeout: 5 * time.Second}
	c.defaults()
	return c
}

// An e-mail goes through a real SMTP server (aiosmtpd) over STARTTLS with
// authentication; the stored message's subject decodes to the Vietnamese
// title with its diacritics, and the body holds the message and the link
// to the alert on the wall.
func TestEmailThroughRealSMTPServer(t *testing.T) {
	srv := smtptest.Start(t)
	ch := emailChannel(srv, "Trực ban <truc.ban@sonla.gov.vn>", "lanh.dao@sonla.gov.vn")
	if err := ch.validate("oncall-mail"); err != nil {
		t.Fatal(err)
	}
	m, err := newMailer("oncall-mail", &ch)
	if err != nil {
		t.Fatal(err)
	}
	ev := testAlert()
	n := newNotice(&ev, NoticeOpen, 0, "oncall-mail", "https://ioc.sonla.gov.vn", time.Now())
	if err := m.send(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	testpoll.Eventually(t, 10*time.Second, "the message in the mailbox", func() (bool, string) {
		n := len(srv.Messages(t))
		return n == 1, fmt.Sprintf("%d messages", n)
	})
	msg := srv.Messages(t)[0]
	raw := msg.Header.Get("Subject")
	if !strings.HasPrefix(raw, "=?UTF-8?b?") && !strings.HasPrefix(raw, "=?UTF-8?B?") {
		t.Errorf("subject is not RFC 2047 encoded: %q", raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := "IOC Sơn La [Báo động] Mực nước Báo động 2: 2.2 m — Trạm đo mực nước suối Nậm La — Xã Chiềng Cọ"
	if subject != want {
		t.Errorf("subject decodes to %q, want %q", subject, want)
	}
	for _, k := range []string{"From", "To", "Subject"} {
		for _, r := range msg.Header.Get(k) {
			if r > 127 {
				t.Errorf("%s header %q is not ASCII: RFC 5322 headers need RFC 2047 encoded words", k, msg.Header.Get(k))
				break
			}
		}
	}
	if from, err := msg.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "IOC Sơn La" || from[0].Address != "ioc@sonla.gov.vn" {
		t.Errorf("From %q decodes to %v (%v)", msg.Header.Get("From"), from, err)
	}
	if to, err := msg.Header.AddressList("To"); err != nil || len(to) != 2 || to[0].Name != "Trực ban" {
		t.Errorf("To %q decodes to %v (%v)", msg.Header.Get("To"), to, err)
	}
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Địa bàn: Xã Chiềng Cọ", "Mức độ: Báo động", "https://ioc.sonla.gov.vn/?alert=al-1", "Bắt đầu: 02:10 14/07/2026"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
	if id := msg.Header.Get("Message-ID"); id != "<al-1.tr-1.0@ioc.sonla>" {
		t.Errorf("Message-ID %q, want one made of the idempotency key", id)
	}
}

// A wrong password is refused by the server and not retried; a server
// that does not answer costs one timeout, never a stuck worker.
func TestEmailRefusals(t *testing.T) {
	srv := smtptest.Start(t)
	ch := emailChannel(srv, "truc.ban@sonla.gov.vn")
	ch.SMTP.PasswordFile = writeFile(t, "not-the-password")
	m, err := newMailer("mail", &ch)
	if err != nil {
		t.Fatal(err)
	}
	ev := testAlert()
	n := newNotice(&ev, NoticeOpen, 0, "mail", "http://localhost:8080", time.Now())
	err = m.send(context.Background(), &n)
	if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "authentication") {
		t.Errorf("wrong password: %v, want a permanent authentication error", err)
	}
	// A listener that accepts and never speaks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ch = emailChannel(srv, "truc.ban@sonla.gov.vn")
	ch.SMTP.Addr, ch.Timeout = ln.Addr().String(), 300*time.Millisecond
	m, err = newMailer("mail", &ch)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.send(context.Background(), &n) }()
	select {
	case err := <-done:
		if err == nil || isPermanent(err) {
			t.Errorf("silent server: %v, want a retryable error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("send to a silent SMTP server did not return: the timeout does not bound it")
	}
}

// received is what a test HTTP receiver got.
type received struct {
	mu   sync.Mutex
	reqs []receivedReq
}

type receivedReq struct {
	path   string
	header http.Header
	body   []byte
	sigOK  error
}

func (r *received) all() []receivedReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedReq(nil), r.reqs...)
}

// receiver is a real HTTP server that checks each request's signature
// with secret and answers status(n) to the n-th request (from 1).
func receiver(t *testing.T, secret string, status func(n int) int) (*httptest.Server, *received) {
	rec := &received{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, receivedReq{path: r.URL.Path, header: r.Header.Clone(), body: body,
			sigOK: Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute)})
		n := len(rec.reqs)
		rec.mu.Unlock()
		code := http.StatusOK
		if status != nil {
			code = status(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// The webhook's body is the documented JSON, signed with HMAC-SHA256 over
// timestamp and body; a 5xx is retryable, a 4xx is not.
func TestWebhookSignedBody(t *testing.T) {
	const secret = "a-shared-secret-of-32-characters"
	codes := []int{200, 500, 400}
	srv, rec := receiver(t, secret, func(n int) int { return codes[n-1] })
	ch := ChannelConfig{Kind: KindWebhook, URL: srv.URL + "/hooks/ioc", SecretFile: writeFile(t, secret+"\n")}
	ch.defaults()
	if err := ch.validate("hook"); err != nil {
		t.Fatal(err)
	}
	h, err := newHook("hook", &ch)
	if err != nil {
		t.Fatal(err)
	}
	ev := testAlert()
	n := newNotice(&ev, NoticeOpen, 0, "hook", "http://localhost:8080", time.Now())
	if err := h.send(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	if err := h.send(context.Background(), &n); err == nil || isPermanent(err) {
		t.Errorf("500: %v, want a retryable error", err)
	}
	if err := h.send(context.Background(), &n); err == nil || !isPermanent(err) {
		t.Errorf("400: %v, want a permanent error", err)
	}
	got := rec.all()
	if len(got) != 3 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.sigOK != nil {
		t.Errorf("signature: %v", r.sigOK)
	}
	if k := r.header.Get(HeaderIdempotency); k != "al-1:tr-1:0" {
		t.Errorf("Idempotency-Key %q", k)
	}
	var body Notice
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Version != 1 || body.Notice != NoticeOpen || body.Alert.ID != "al-1" || body.Alert.Ward != "Xã Chiềng Cọ" ||
		body.URL != "http://localhost:8080/?alert=al-1" || body.Alert.OpenedAt != "2026-07-14T02:10:00+07:00" {
		t.Errorf("body: %s", r.body)
	}
	// A forged body under the same signature is refused by Verify.
	if err := Verify([]byte(secret), r.header, append(r.body, ' '), time.Now(), time.Minute); err == nil {
		t.Error("a changed body verifies")
	}
	if err := Verify([]byte(secret), r.header, r.body, time.Now().Add(time.Hour), time.Minute); err == nil {
		t.Error("an old timestamp verifies")
	}
}

// Telegram and Zalo OA: the built-in templates render the bodies their
// APIs take, the token goes where each API wants it; tested up to the
// HTTP request with a local receiver.
func TestChatTemplates(t *testing.T) {
	srv, rec := receiver(t, "", nil)
	tg := ChannelConfig{Kind: KindTelegram, URL: srv.URL + "/bot{token}/sendMessage", TokenFile: writeFile(t, "123456:ABC-tok"), ChatID: "-1001234567"}
	zl := ChannelConfig{Kind: KindZalo, URL: srv.URL + "/v3.0/oa/message/cs", TokenEnv: "IOC_TEST_ZALO_TOKEN", UserID: "2468013579"}
	t.Setenv("IOC_TEST_ZALO_TOKEN", "zalo-access-token")
	custom := ChannelConfig{Kind: KindWebhook, URL: srv.URL + "/custom", SecretEnv: "IOC_TEST_HOOK_SECRET",
		Template: `{"text": {{json .Title}}, "level": {{.Alert.Level}}, "link": {{json .URL}}}`}
	t.Setenv("IOC_TEST_HOOK_SECRET", "another-secret-0123456789")
	ev := testAlert()
	for name, c := range map[string]*ChannelConfig{"tg": &tg, "zl": &zl, "custom": &custom} {
		c.defaults()
		if err := c.validate(name); err != nil {
			t.Fatal(err)
		}
		h, err := newHook(name, c)
		if err != nil {
			t.Fatal(err)
		}
		n := newNotice(&ev, NoticeRepeat, 2, name, "http://localhost:8080", time.Now())
		if err := h.send(context.Background(), &n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	byPath := map[string]receivedReq{}
	for _, r := range rec.all() {
		byPath[r.path] = r
	}
	var tgBody struct {
		ChatID string `json:"chat_id"`
		Text   string `json:"text"`
	}
	r, ok := byPath["/bot123456:ABC-tok/sendMessage"]
	if !ok {
		t.Fatalf("no telegram request with the token in its path: %v", byPath)
	}
	if err := json.Unmarshal(r.body, &tgBody); err != nil || tgBody.ChatID != "-1001234567" ||
		!strings.Contains(tgBody.Text, "nhắc lại lần 2, chưa ai xác nhận") || !strings.Contains(tgBody.Text, "Xã Chiềng Cọ") {
		t.Errorf("telegram body %s (%v)", r.body, err)
	}
	var zlBody struct {
		Recipient struct {
			UserID string `json:"user_id"`
		} `json:"recipient"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	r = byPath["/v3.0/oa/message/cs"]
	if err := json.Unmarshal(r.body, &zlBody); err != nil || zlBody.Recipient.UserID != "2468013579" || !strings.Contains(zlBody.Message.Text, "Mực nước") {
		t.Errorf("zalo body %s (%v)", r.body, err)
	}
	if r.header.Get("access_token") != "zalo-access-token" {
		t.Errorf("zalo access_token header %q", r.header.Get("access_token"))
	}
	r = byPath["/custom"]
	var cb map[string]any
	if err := json.Unmarshal(r.body, &cb); err != nil || cb["link"] != "http://localhost:8080/?alert=al-1" {
		t.Errorf("custom template body %s (%v)", r.body, err)
	}
	if err := Verify([]byte("another-secret-0123456789"), r.header, r.body, time.Now(), time.Minute); err != nil {
		t.Errorf("custom webhook signature: %v", err)
	}
	// A template that does not render JSON is refused before anything is sent.
	bad := ChannelConfig{Kind: KindWebhook, URL: srv.URL, SecretEnv: "IOC_TEST_HOOK_SECRET", Template: `text={{.Title}}`}
	bad.defaults()
	if err := bad.validate("bad"); err != nil {
		t.Fatal(err)
	}
	h, _ := newHook("bad", &bad)
	n := newNotice(&ev, NoticeOpen, 0, "bad", "http://localhost:8080", time.Now())
	if err := h.send(context.Background(), &n); err == nil || !isPermanent(err) {
		t.Errorf("non-JSON template: %v", err)
	}
}

// Probe (ioc doctor) reaches each channel and sends nothing: an SMTP
// server through STARTTLS and AUTH, an HTTP receiver's host; a wrong
// password and a closed port are reported.
func TestProbe(t *testing.T) {
	srv := smtptest.Start(t)
	hook, rec := receiver(t, "", nil)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	bad := emailChannel(srv, "a@sonla.gov.vn")
	bad.SMTP.PasswordFile = writeFile(t, "wrong-password")
	cfg := Config{Channels: map[string]ChannelConfig{
		"mail":     emailChannel(srv, "a@sonla.gov.vn"),
		"bad-mail": bad,
		"hook":     {Kind: KindWebhook, URL: hook.URL + "/x", SecretEnv: "IOC_TEST_PROBE_SECRET"},
		"gone":     {Kind: KindWebhook, URL: closedURL + "/x", SecretEnv: "IOC_TEST_PROBE_SECRET", Timeout: time.Second},
	}}
	t.Setenv("IOC_TEST_PROBE_SECRET", "probe-secret-0123456789")
	s, err := New(cfg, kafkaconn.Config{}, chconn.Config{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := s.Probe(context.Background())
	if res["mail"] != nil || res["hook"] != nil {
		t.Errorf("reachable channels: mail %v, hook %v", res["mail"], res["hook"])
	}
	if err := res["bad-mail"]; err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Errorf("wrong SMTP password: %v", err)
	}
	if err := res["gone"]; err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("closed port: %v", err)
	}
	if n := len(srv.Messages(t)); n != 0 || len(rec.all()) != 0 {
		t.Errorf("probing sent %d mails and %d requests", n, len(rec.all()))
	}
}
