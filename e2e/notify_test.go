package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/smtptest"
	"github.com/sonla-ioc/ioc/notify"
)

// hookLog is a real HTTP receiver of the notifier's webhook: it checks
// every signature and keeps the notices in order of arrival.
type hookLog struct {
	mu      sync.Mutex
	notices []notify.Notice
	arrived []time.Time
	bad     []string
}

func (h *hookLog) serve(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := notify.Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
			h.bad = append(h.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var n notify.Notice
		if err := json.Unmarshal(body, &n); err != nil || r.Header.Get(notify.HeaderIdempotency) != n.Key {
			h.bad = append(h.bad, fmt.Sprintf("body %s (%v), key header %q", body, err, r.Header.Get(notify.HeaderIdempotency)))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.notices = append(h.notices, n)
		h.arrived = append(h.arrived, time.Now())
	})
}

// of lists the notices of an alert as "notice#repeat".
func (h *hookLog) of(alertID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, n := range h.notices {
		if n.Alert.ID == alertID {
			out = append(out, fmt.Sprintf("%s#%d", n.Notice, n.Repeat))
		}
	}
	return out
}

// firstOf is the first notice of a rule and subject, and when it arrived.
func (h *hookLog) firstOf(rule, subject string) (notify.Notice, time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, n := range h.notices {
		if n.Alert.Rule == rule && n.Alert.Subject == subject {
			return n, h.arrived[i], true
		}
	}
	return notify.Notice{}, time.Time{}, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The "done when": a water level above Báo động 2 published on the
// real Mosquitto goes through ingest, Kafka and the stream's monitor; the
// notifier sends a signed webhook call and an e-mail (real SMTP server,
// STARTTLS and AUTH, Vietnamese subject) within seconds; both repeat while
// nobody acknowledges the alert; an operator acknowledges it through the
// dashboard's API and the repeats stop; the level falling back resolves it
// and a resolved notice follows. Admins see every notification on
// GET /api/admin/notifications; operators may not.
func TestThresholdAlertReachesPeopleUntilAcknowledged(t *testing.T) {
	const secret = "e2e-webhook-secret-0123456789abcdef"
	hooks := &hookLog{}
	recv := httptest.NewServer(hooks.serve(secret))
	defer recv.Close()
	box := smtptest.Start(t)
	secretFile := filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	const repeat = 2 * time.Second
	cfg := notify.Config{BaseURL: pipe.wallURL, Tick: 100 * time.Millisecond,
		Channels: map[string]notify.ChannelConfig{
			"oncall-hook": {Kind: notify.KindWebhook, URL: recv.URL + "/ioc", SecretFile: secretFile},
			"oncall-mail": {Kind: notify.KindEmail, From: "IOC Sơn La <ioc@sonla.gov.vn>", To: []string{"truc.ban@sonla.gov.vn"},
				SMTP: notify.SMTPConfig{Addr: box.Addr, Username: box.User, PasswordFile: box.PasswordFile, CAFile: box.CAFile, ServerName: "localhost"}},
		},
		Routes: []notify.RouteConfig{{Name: "nam-la-flood", Rules: []string{"water_level"}, Wards: []string{"Xã Chiềng Cọ"},
			Channels: []string{"oncall-hook", "oncall-mail"}, RepeatEvery: repeat, SendAcknowledged: true}}}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	nt, err := notify.New(cfg, pipe.kafka, pipe.ch, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nt.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("notifier: %v", err)
		}
	}()
	eventually(t, 60*time.Second, "notifier ready", func() (bool, string) { return nt.Ready(), "" })

	// Data time four minutes ago, so that readings after it can clear the
	// alert (it resolves once the level has been normal for 2 minutes of
	// data time).
	p := newPublisher(t)
	t0 := time.Now().Add(-4 * time.Minute).Truncate(time.Second)
	published := time.Now()
	p.send(t, "viettel", "e2e-water-1", fmt.Sprintf(`[{"n":"level","u":"m","v":2.2,"t":%d}]`, t0.Unix()))
	var first notify.Notice
	eventually(t, 30*time.Second, "a signed webhook call", func() (bool, string) {
		n, at, ok := hooks.firstOf("water_level", "e2e-water-1")
		if ok {
			first = n
			t.Logf("webhook call %.1fs after the reading was published", at.Sub(published).Seconds())
		}
		return ok, fmt.Sprintf("bad requests: %v", hooks.bad)
	})
	alert := first.Alert.ID
	// The mailbox is the package's: other tests' alerts reach it too. This
	// alert's messages carry its id in their Message-ID.
	msgs := func() []*mail.Message {
		var out []*mail.Message
		for _, m := range box.Messages(t) {
			if strings.HasPrefix(m.Header.Get("Message-ID"), "<"+strings.ReplaceAll(alert, ":", ".")+".") {
				out = append(out, m)
			}
		}
		return out
	}
	if first.Notice != notify.NoticeOpen || first.Alert.Stage != "Báo động 2" || first.Alert.Ward != "Xã Chiềng Cọ" ||
		first.URL != pipe.wallURL+"/?alert="+alert {
		t.Errorf("first notice: %+v", first)
	}
	eventually(t, 30*time.Second, "the e-mail in the mailbox", func() (bool, string) {
		n := len(msgs())
		return n >= 1, fmt.Sprintf("%d messages", n)
	})
	subject, err := new(mime.WordDecoder).DecodeHeader(msgs()[0].Header.Get("Subject"))
	if err != nil || !strings.HasPrefix(subject, "IOC Sơn La [Báo động] Mực nước Báo động 2: 2.2") || !strings.Contains(subject, "Xã Chiềng Cọ") {
		t.Errorf("e-mail subject %q (%v)", subject, err)
	}
	t.Logf("e-mail %.1fs after the reading was published", time.Since(published).Seconds())

	eventually(t, 30*time.Second, "repeats while nobody acknowledges", func() (bool, string) {
		got := hooks.of(alert)
		return contains(got, "repeat#1") && contains(got, "repeat#2"), strings.Join(got, " ")
	})
	eventually(t, 30*time.Second, "repeated e-mails", func() (bool, string) {
		n := len(msgs())
		return n >= 3, fmt.Sprintf("%d messages", n)
	})

	// An operator acknowledges it on the wall's API.
	op, _ := ackAsOperator(t, "notifyop", alert)
	eventually(t, 20*time.Second, "acknowledged notice", func() (bool, string) {
		got := hooks.of(alert)
		return contains(got, "acknowledged#0"), strings.Join(got, " ")
	})
	// One worker per channel sends in order: nothing decided before the
	// acknowledgement arrives after its notice. Watch for three repeat
	// intervals that no repeat follows.
	ackIndex := len(hooks.of(alert))
	watchUntil := time.Now().Add(3 * repeat)
	eventually(t, 3*repeat+10*time.Second, "three repeat intervals without a repeat", func() (bool, string) {
		after := hooks.of(alert)[ackIndex:]
		for _, n := range after {
			if strings.HasPrefix(n, "repeat") {
				t.Fatalf("a repeat after the acknowledgement: %v", hooks.of(alert))
			}
		}
		return time.Now().After(watchUntil), strings.Join(after, " ")
	})
	// The mail worker sends in order too: once the acknowledged mail is
	// there, every repeat decided before the acknowledgement is.
	subjects := func() []string {
		var out []string
		for _, m := range msgs() {
			s, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			out = append(out, s)
		}
		return out
	}
	repeatMails := func() int {
		n := 0
		for _, s := range subjects() {
			if strings.Contains(s, "nhắc lại lần") {
				n++
			}
		}
		return n
	}
	eventually(t, 20*time.Second, "acknowledged e-mail", func() (bool, string) {
		return slicesHasPrefix(subjects(), "IOC Sơn La [Đã xác nhận]"), strings.Join(subjects(), " | ")
	})
	repeatsAtAck := repeatMails()

	// The level falls back; two minutes of normal data later the alert
	// resolves and a resolved notice goes out.
	p.send(t, "viettel", "e2e-water-1", fmt.Sprintf(`[{"n":"level","u":"m","v":0.6,"t":%d}]`, t0.Add(time.Minute).Unix()))
	p.send(t, "viettel", "e2e-water-1", fmt.Sprintf(`[{"n":"level","u":"m","v":0.5,"t":%d}]`, t0.Add(3*time.Minute+30*time.Second).Unix()))
	eventually(t, 30*time.Second, "resolved notice", func() (bool, string) {
		got := hooks.of(alert)
		return contains(got, "resolved#0"), strings.Join(got, " ")
	})
	eventually(t, 30*time.Second, "resolved e-mail", func() (bool, string) {
		return slicesHasPrefix(subjects(), "IOC Sơn La [Đã kết thúc]"), strings.Join(subjects(), " | ")
	})
	if n := repeatMails(); n != repeatsAtAck {
		t.Errorf("%d repeat e-mails at the end, %d at the acknowledgement: repeats went on", n, repeatsAtAck)
	}
	if len(hooks.bad) > 0 {
		t.Errorf("refused webhook requests: %v", hooks.bad)
	}

	// Admins see the notifications; operators may not.
	admName, admPw := newAccount(t, "notifyadm", auth.RoleAdmin)
	adm, code := login(t, agent(t), admName, admPw)
	if code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	eventually(t, 20*time.Second, "GET /api/admin/notifications", func() (bool, string) {
		resp := adm.do(t, "GET", "/api/admin/notifications?alert="+alert, nil, nil)
		defer resp.Body.Close()
		var body struct {
			Notifications []struct {
				Channel, Notice, Status, Target string
				Repeat                          int
			} `json:"notifications"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			return false, fmt.Sprintf("%d %v", resp.StatusCode, err)
		}
		seen := map[string]bool{}
		for _, n := range body.Notifications {
			if n.Status == "sent" {
				seen[n.Channel+" "+n.Notice] = true
			}
			if strings.Contains(n.Target, "truc.ban@") {
				t.Fatalf("an e-mail address in the log: %q", n.Target)
			}
		}
		ok := seen["oncall-hook open"] && seen["oncall-mail open"] && seen["oncall-hook repeat"] && seen["oncall-mail resolved"] &&
			seen["oncall-hook acknowledged"]
		return ok, fmt.Sprintf("%d rows: %v", len(body.Notifications), seen)
	})
	if code := op.status(t, "GET", "/api/admin/notifications", nil); code != http.StatusForbidden {
		t.Errorf("an operator reading the notification log: %d, want 403", code)
	}
	resp := adm.do(t, "GET", "/admin/notifications", nil, nil)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Thông báo đã gửi") {
		t.Errorf("/admin/notifications: %d", resp.StatusCode)
	}
}

func slicesHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
