package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook request (docs/notifications.md).
const (
	HeaderSignature   = "X-IOC-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderTimestamp   = "X-IOC-Timestamp" // Unix seconds, also signed
	HeaderIdempotency = "Idempotency-Key"
	HeaderNotice      = "X-IOC-Notice"
)

// Sign is the signature header's value of a body sent at a timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a request's signature and that its timestamp is within
// tolerance of now: what a receiver does (docs/notifications.md).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("no valid " + HeaderTimestamp + " header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s is %s away from now", ts, d)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("signature does not match")
	}
	return nil
}

// permanentError is a failure that retrying cannot cure (a 4xx answer, a
// refused recipient): the notification is recorded failed at once.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// sender delivers a notice on one channel.
type sender interface {
	send(ctx context.Context, n *Notice) error
	probe(ctx context.Context) error // reach it, send nothing
	target() string                  // masked, for the log
}

// newSender reads the channel's secrets and prepares its sender.
func newSender(name string, ch *ChannelConfig) (sender, error) {
	switch ch.Kind {
	case KindEmail:
		return newMailer(name, ch)
	default:
		return newHook(name, ch)
	}
}

type hook struct {
	ch     *ChannelConfig
	url    string
	secret []byte
	token  string
	client *http.Client
}

func newHook(name string, ch *ChannelConfig) (*hook, error) {
	secret, err := readSecret(ch.SecretFile, ch.SecretEnv, "notify.channels."+name+" HMAC secret")
	if err != nil {
		return nil, err
	}
	token, err := readSecret(ch.TokenFile, ch.TokenEnv, "notify.channels."+name+" token")
	if err != nil {
		return nil, err
	}
	if ch.Kind == KindWebhook && len(secret) < 16 {
		return nil, fmt.Errorf("notify.channels.%s: the HMAC secret has %d characters; use at least 16 (e.g. openssl rand -hex 32)", name, len(secret))
	}
	return &hook{ch: ch, url: strings.ReplaceAll(ch.URL, "{token}", url.PathEscape(token)), secret: []byte(secret), token: token,
		client: &http.Client{Timeout: ch.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

func (h *hook) target() string {
	u, err := url.Parse(h.ch.URL)
	if err != nil {
		return h.ch.Kind
	}
	t := h.ch.Kind + " " + u.Scheme + "://" + u.Host
	switch h.ch.Kind {
	case KindTelegram:
		t += " chat " + maskID(h.ch.ChatID)
	case KindZalo:
		t += " user " + maskID(h.ch.UserID)
	}
	return t
}

func (h *hook) send(ctx context.Context, n *Notice) error {
	body, err := renderBody(h.ch, n)
	if err != nil {
		return permanentError{err}
	}
	return h.post(ctx, body, n.Key, n.Notice)
}

// post sends one signed request body.
func (h *hook) post(ctx context.Context, body []byte, key, notice string) error {
	ctx, cancel := context.WithTimeout(ctx, h.ch.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return permanentError{err}
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "ioc-notify/1")
	req.Header.Set(HeaderIdempotency, key)
	req.Header.Set(HeaderNotice, notice)
	if len(h.secret) > 0 {
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(h.secret, ts, body))
	}
	if h.ch.Kind == KindZalo {
		req.Header.Set("access_token", h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// The URL may hold a token (telegram): say where without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s: %w", h.target(), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("POST %s: %s: %s", h.target(), resp.Status, strings.TrimSpace(string(snippet)))
	default:
		return permanentError{fmt.Errorf("POST %s: %s (not retried: fix the channel's url, token or template): %s",
			h.target(), resp.Status, strings.TrimSpace(string(snippet)))}
	}
}

type mailer struct {
	ch       *ChannelConfig
	host     string
	password string
	tls      *tls.Config
	from     *mail.Address
	to       []*mail.Address
}

func newMailer(name string, ch *ChannelConfig) (*mailer, error) {
	pw, err := readSecret(ch.SMTP.PasswordFile, ch.SMTP.PasswordEnv, "notify.channels."+name+" smtp password")
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(ch.SMTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("notify.channels.%s: smtp.addr: %w", name, err)
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if ch.SMTP.ServerName != "" {
		tc.ServerName = ch.SMTP.ServerName
	}
	if ch.SMTP.CAFile != "" {
		pem, err := os.ReadFile(ch.SMTP.CAFile)
		if err != nil {
			return nil, fmt.Errorf("notify.channels.%s: smtp.ca_file: %w", name, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("notify.channels.%s: smtp.ca_file %s holds no PEM certificate", name, ch.SMTP.CAFile)
		}
		tc.RootCAs = pool
	}
	m := &mailer{ch: ch, host: host, password: pw, tls: tc}
	from, err := mail.ParseAddress(ch.From)
	if err != nil {
		return nil, err
	}
	m.from = from
	for _, a := range ch.To {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return nil, err
		}
		m.to = append(m.to, addr)
	}
	return m, nil
}

func (m *mailer) target() string {
	out := make([]string, len(m.to))
	for i, a := range m.to {
		out[i] = maskEmail(a.Address)
	}
	return "smtp " + m.ch.SMTP.Addr + " to " + strings.Join(out, ", ")
}

// dial opens an authenticated SMTP conversation: connect, EHLO,
// STARTTLS, AUTH, all within the channel's timeout.
func (m *mailer) dial(ctx context.Context) (*smtp.Client, error) {
	d := net.Dialer{Timeout: m.ch.Timeout}
	conn, err := d.DialContext(ctx, "tcp", m.ch.SMTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to smtp %s: %w", m.ch.SMTP.Addr, err)
	}
	// One deadline for the whole conversation: a server that stops
	// answering costs one timeout, never a stuck worker.
	_ = conn.SetDeadline(time.Now().Add(m.ch.Timeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		stop()
		conn.Close()
		return nil, fmt.Errorf("smtp %s greeting: %w", m.ch.SMTP.Addr, err)
	}
	fail := func(err error) (*smtp.Client, error) {
		stop()
		c.Close()
		return nil, err
	}
	if err := c.Hello("ioc-notify"); err != nil {
		return fail(fmt.Errorf("smtp %s EHLO: %w", m.ch.SMTP.Addr, err))
	}
	if on(m.ch.SMTP.StartTLS) {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail(permanentError{fmt.Errorf("smtp %s does not offer STARTTLS (set smtp.starttls: false only for a server on this machine)", m.ch.SMTP.Addr)})
		}
		if err := c.StartTLS(m.tls); err != nil {
			return fail(fmt.Errorf("smtp %s STARTTLS: %w (smtp.ca_file trusts a private CA)", m.ch.SMTP.Addr, err))
		}
	}
	if m.ch.SMTP.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.ch.SMTP.Username, m.password, m.host)); err != nil {
			return fail(permanentError{fmt.Errorf("smtp %s authentication as %s: %w", m.ch.SMTP.Addr, m.ch.SMTP.Username, err)})
		}
	}
	return c, nil
}

func (m *mailer) send(ctx context.Context, n *Notice) error {
	return m.deliver(ctx, emailMessage(m.from, m.to, n, time.Now()))
}

// deliver sends one RFC 5322 message to the channel's recipients.
func (m *mailer) deliver(ctx context.Context, msg []byte) error {
	c, err := m.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("smtp %s MAIL FROM: %w", m.ch.SMTP.Addr, err)
	}
	for _, a := range m.to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("smtp %s RCPT TO %s: %w", m.ch.SMTP.Addr, maskEmail(a.Address), err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s DATA: %w", m.ch.SMTP.Addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s writing the message: %w", m.ch.SMTP.Addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s end of message: %w", m.ch.SMTP.Addr, err)
	}
	_ = c.Quit()
	return nil
}

// maskEmail keeps the first letter and the domain: n***@sonla.gov.vn.
func maskEmail(a string) string {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

func maskID(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return "***"
	}
	return string(r[:2]) + "***" + string(r[len(r)-2:])
}

// probe checks that a channel can be reached without sending anything:
// for e-mail the whole conversation up to authentication, for the HTTP
// channels a TCP (and TLS) connection to the host.
func (m *mailer) probe(ctx context.Context) error {
	c, err := m.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Quit()
}

func (h *hook) probe(ctx context.Context) error {
	u, err := url.Parse(h.url)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, h.ch.Timeout)
	defer cancel()
	addr := net.JoinHostPort(u.Hostname(), port)
	var conn net.Conn
	if u.Scheme == "https" {
		d := tls.Dialer{Config: &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}}
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", h.target(), err)
	}
	return conn.Close()
}
