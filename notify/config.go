package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// Channel kinds.
const (
	KindWebhook  = "webhook"  // the IOC JSON body (docs/notifications.md), HMAC-signed
	KindEmail    = "email"    // SMTP with STARTTLS and authentication
	KindTelegram = "telegram" // Bot API sendMessage through the webhook sender
	KindZalo     = "zalo"     // Zalo OA message API through the webhook sender
)

// Config is the notify section of the configuration file.
type Config struct {
	// Enabled runs the notifier in `ioc run` and `ioc notify`; default
	// true. With no channels it follows the alerts and sends nothing.
	Enabled *bool `yaml:"enabled"`
	// BaseURL is the wall's address as people reach it; each notification
	// links to {base_url}/?alert={alert_id}.
	BaseURL string `yaml:"base_url"`
	// Channels by name.
	Channels map[string]ChannelConfig `yaml:"channels"`
	// Routes: which alerts go to which channels. An alert goes to the
	// channels of every route it matches; a channel listed by several
	// matching routes takes the settings of the first.
	Routes []RouteConfig `yaml:"routes"`
	// Replay is how many alert transitions per partition the notifier
	// re-reads at start to rebuild the open alerts (what it sent already
	// is read from ClickHouse and never sent again).
	Replay int `yaml:"replay"`
	// MaxAge: a transition older than this when the notifier reads it (a
	// replay, a backlog) is not sent as itself; the alert is followed and
	// its repeats go out if nobody acknowledges it.
	MaxAge time.Duration `yaml:"max_age"`
	// Tick is how often repeats and quiet hours are evaluated.
	Tick time.Duration `yaml:"tick"`
	// Remember is how far back sent notifications are read at start.
	Remember time.Duration `yaml:"remember"`
	// LogQueue bounds the records waiting for ClickHouse; beyond it the
	// oldest are dropped and counted (ioc_notify_log_dropped_total).
	LogQueue int `yaml:"log_queue"`
}

// ChannelConfig is one destination.
type ChannelConfig struct {
	Kind string `yaml:"kind"`
	// Enabled (default true): false keeps a channel in the file but sends
	// nothing to it (its notifications are not recorded either).
	Enabled *bool `yaml:"enabled"`

	// URL (webhook, telegram, zalo): where to POST. For telegram,
	// "{token}" in it is replaced by the token (default
	// https://api.telegram.org/bot{token}/sendMessage); for zalo the
	// default is https://openapi.zalo.me/v3.0/oa/message/cs.
	URL string `yaml:"url"`
	// SecretFile (or SecretEnv): the HMAC-SHA256 key of the signature
	// header. Required for webhook; used when set for telegram and zalo.
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
	// TokenFile (or TokenEnv): the telegram bot token or the zalo OA
	// access token.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	// ChatID (telegram) or UserID (zalo): the recipient.
	ChatID string `yaml:"chat_id"`
	UserID string `yaml:"user_id"`
	// Template (telegram, zalo, webhook): a text/template that renders the
	// request body instead of the built-in one (docs/notifications.md).
	Template string `yaml:"template"`

	// SMTP (email).
	SMTP SMTPConfig `yaml:"smtp"`
	// From and To (email).
	From string   `yaml:"from"`
	To   []string `yaml:"to"`

	// Timeout bounds one attempt (connect, send, answer); default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// RetryFor: failed attempts are retried with exponential backoff
	// (RetryFirst doubling up to RetryMax) until this long after the first;
	// then the notification is recorded failed. Defaults 10m, 1s, 1m.
	RetryFor   time.Duration `yaml:"retry_for"`
	RetryFirst time.Duration `yaml:"retry_first"`
	RetryMax   time.Duration `yaml:"retry_max"`
	// Queue bounds the notifications waiting for this channel; when it is
	// full new ones are recorded dropped, so a channel that is down never
	// holds up the others or the alerts. Default 1000.
	Queue int `yaml:"queue"`

	tmpl *template.Template
}

// SMTPConfig is an SMTP submission server.
type SMTPConfig struct {
	// Addr is host:port (submission, usually 587).
	Addr     string `yaml:"addr"`
	Username string `yaml:"username"`
	// PasswordFile (or PasswordEnv) holds the password.
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// StartTLS (default true) upgrades the connection before
	// authenticating; a server that does not offer it is an error.
	StartTLS *bool `yaml:"starttls"`
	// CAFile: PEM certificates to trust for the server (besides the
	// system's); ServerName overrides the host name checked.
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// RouteConfig chooses channels for alerts. Every set criterion must match;
// an empty list matches anything.
type RouteConfig struct {
	Name string `yaml:"name"`
	// Rules, Wards, Partners: alert rule names, wards (as in the
	// registry), partners.
	Rules    []string `yaml:"rules"`
	Wards    []string `yaml:"wards"`
	Partners []string `yaml:"partners"`
	// MinSeverity: warning (default), alert or critical.
	MinSeverity string `yaml:"min_severity"`
	// Channels by name.
	Channels []string `yaml:"channels"`
	// RepeatEvery: an alert nobody acknowledged is sent again this often
	// (0 = never). Acknowledging it on the wall stops the repeats.
	RepeatEvery time.Duration `yaml:"repeat_every"`
	// MaxRepeats bounds the repeats of one transition (0 = no bound).
	MaxRepeats int `yaml:"max_repeats"`
	// SendResolved (default true) sends a notice when the alert resolves.
	SendResolved *bool `yaml:"send_resolved"`
	// SendAcknowledged (default false) sends a notice when an operator
	// acknowledges the alert.
	SendAcknowledged bool `yaml:"send_acknowledged"`
	// Quiet hours (Asia/Ho_Chi_Minh).
	Quiet QuietHours `yaml:"quiet_hours"`
}

// QuietHours hold back notifications below a severity at night: they go
// out when the quiet hours end, if the alert is still open and not
// acknowledged.
type QuietHours struct {
	// From and To are "HH:MM" in Asia/Ho_Chi_Minh; From after To spans
	// midnight. Both empty: no quiet hours.
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// MinSeverity is the lowest severity that still goes out during quiet
	// hours; default critical.
	MinSeverity string `yaml:"min_severity"`

	from, to int // minutes after midnight
}

func on(b *bool) bool { return b == nil || *b }

// On reports whether the notifier runs.
func (c *Config) On() bool { return on(c.Enabled) }

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.BaseURL == "" {
		c.BaseURL = "http://localhost:8080"
	}
	if c.Replay == 0 {
		c.Replay = 10000
	}
	if c.MaxAge == 0 {
		c.MaxAge = time.Hour
	}
	if c.Tick == 0 {
		c.Tick = time.Second
	}
	if c.Remember == 0 {
		c.Remember = 7 * 24 * time.Hour
	}
	if c.LogQueue == 0 {
		c.LogQueue = 10000
	}
	for name, ch := range c.Channels {
		ch.defaults()
		c.Channels[name] = ch
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.MinSeverity == "" {
			r.MinSeverity = event.SeverityWarning
		}
		if r.Quiet.From != "" && r.Quiet.MinSeverity == "" {
			r.Quiet.MinSeverity = event.SeverityCritical
		}
		if r.Name == "" {
			r.Name = fmt.Sprintf("route-%d", i+1)
		}
	}
}

func (ch *ChannelConfig) defaults() {
	if ch.Timeout == 0 {
		ch.Timeout = 10 * time.Second
	}
	if ch.RetryFor == 0 {
		ch.RetryFor = 10 * time.Minute
	}
	if ch.RetryFirst == 0 {
		ch.RetryFirst = time.Second
	}
	if ch.RetryMax == 0 {
		ch.RetryMax = time.Minute
	}
	if ch.Queue == 0 {
		ch.Queue = 1000
	}
	switch ch.Kind {
	case KindTelegram:
		if ch.URL == "" {
			ch.URL = "https://api.telegram.org/bot{token}/sendMessage"
		}
	case KindZalo:
		if ch.URL == "" {
			ch.URL = "https://openapi.zalo.me/v3.0/oa/message/cs"
		}
	case KindEmail:
		if ch.SMTP.StartTLS == nil {
			t := true
			ch.SMTP.StartTLS = &t
		}
	}
}

var severities = []string{event.SeverityWarning, event.SeverityAlert, event.SeverityCritical}

func severityRank(s string) int { return slices.Index(severities, s) }

// Validate reports settings that cannot work. It reads no secret file:
// a missing one is reported when the notifier starts.
func (c *Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify.base_url %q: must be the wall's http(s) address, e.g. https://ioc.sonla.gov.vn", c.BaseURL)
	}
	switch {
	case c.Replay < 0:
		return errors.New("notify.replay must not be negative")
	case c.MaxAge < time.Second:
		return fmt.Errorf("notify.max_age %s is below 1s", c.MaxAge)
	case c.Tick < 10*time.Millisecond || c.Tick > time.Minute:
		return fmt.Errorf("notify.tick %s is outside 10ms..1m", c.Tick)
	case c.Remember < time.Hour:
		return fmt.Errorf("notify.remember %s is below 1h", c.Remember)
	case c.LogQueue < 1:
		return errors.New("notify.log_queue must be positive")
	}
	for name, ch := range c.Channels {
		if err := ch.validate(name); err != nil {
			return err
		}
		c.Channels[name] = ch
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		where := fmt.Sprintf("notify.routes[%d] (%s)", i, r.Name)
		if severityRank(r.MinSeverity) < 0 {
			return fmt.Errorf("%s: min_severity %q is not warning, alert or critical", where, r.MinSeverity)
		}
		if len(r.Channels) == 0 {
			return fmt.Errorf("%s: a route needs channels", where)
		}
		for _, n := range r.Channels {
			if _, ok := c.Channels[n]; !ok {
				return fmt.Errorf("%s: channel %q is not in notify.channels", where, n)
			}
		}
		if r.RepeatEvery != 0 && r.RepeatEvery < time.Second {
			return fmt.Errorf("%s: repeat_every %s is below 1s (0 = no repeats)", where, r.RepeatEvery)
		}
		if r.MaxRepeats < 0 || r.MaxRepeats > 10000 {
			return fmt.Errorf("%s: max_repeats %d is outside 0..10000", where, r.MaxRepeats)
		}
		if err := r.Quiet.parse(); err != nil {
			return fmt.Errorf("%s: quiet_hours: %w", where, err)
		}
	}
	return nil
}

func (ch *ChannelConfig) validate(name string) error {
	where := "notify.channels." + name
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("%s: a channel name is 1..64 characters without spaces", where)
	}
	if ch.Timeout < 100*time.Millisecond || ch.Timeout > 5*time.Minute {
		return fmt.Errorf("%s: timeout %s is outside 100ms..5m", where, ch.Timeout)
	}
	if ch.RetryFirst <= 0 || ch.RetryMax < ch.RetryFirst || ch.RetryFor < 0 {
		return fmt.Errorf("%s: retry_first must be positive, retry_max at least retry_first, retry_for not negative", where)
	}
	if ch.Queue < 1 || ch.Queue > 1_000_000 {
		return fmt.Errorf("%s: queue %d is outside 1..1000000", where, ch.Queue)
	}
	httpURL := func() error {
		u, err := url.Parse(strings.ReplaceAll(ch.URL, "{token}", "t"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url %q is not an http(s) address", where, ch.URL)
		}
		return nil
	}
	switch ch.Kind {
	case KindWebhook:
		if err := httpURL(); err != nil {
			return err
		}
		if ch.SecretFile == "" && ch.SecretEnv == "" {
			return fmt.Errorf("%s: a webhook is signed: set secret_file (or secret_env) to the shared HMAC key", where)
		}
	case KindTelegram, KindZalo:
		if err := httpURL(); err != nil {
			return err
		}
		if ch.TokenFile == "" && ch.TokenEnv == "" {
			return fmt.Errorf("%s: set token_file (or token_env): the %s token", where, ch.Kind)
		}
		if ch.Kind == KindTelegram && ch.ChatID == "" && ch.Template == "" {
			return fmt.Errorf("%s: chat_id is required", where)
		}
		if ch.Kind == KindZalo && ch.UserID == "" && ch.Template == "" {
			return fmt.Errorf("%s: user_id (the follower's Zalo id) is required", where)
		}
	case KindEmail:
		if ch.SMTP.Addr == "" || !strings.Contains(ch.SMTP.Addr, ":") {
			return fmt.Errorf("%s: smtp.addr must be host:port", where)
		}
		if _, err := mail.ParseAddress(ch.From); err != nil {
			return fmt.Errorf("%s: from %q: %w", where, ch.From, err)
		}
		if len(ch.To) == 0 {
			return fmt.Errorf("%s: to needs at least one address", where)
		}
		for _, a := range ch.To {
			if _, err := mail.ParseAddress(a); err != nil {
				return fmt.Errorf("%s: to %q: %w", where, a, err)
			}
		}
		if ch.SMTP.Username != "" && ch.SMTP.PasswordFile == "" && ch.SMTP.PasswordEnv == "" {
			return fmt.Errorf("%s: smtp.username needs smtp.password_file (or password_env)", where)
		}
		if ch.SMTP.Username != "" && !on(ch.SMTP.StartTLS) {
			return fmt.Errorf("%s: authentication without starttls would send the password in clear", where)
		}
	default:
		return fmt.Errorf("%s: kind %q is not webhook, email, telegram or zalo", where, ch.Kind)
	}
	if ch.Template != "" {
		if ch.Kind == KindEmail {
			return fmt.Errorf("%s: template is for webhook, telegram and zalo channels", where)
		}
		t, err := template.New(name).Funcs(templateFuncs).Parse(ch.Template)
		if err != nil {
			return fmt.Errorf("%s: template: %w", where, err)
		}
		ch.tmpl = t
	}
	return nil
}

func (q *QuietHours) parse() error {
	if q.From == "" && q.To == "" {
		return nil
	}
	var err error
	if q.from, err = clock(q.From); err != nil {
		return err
	}
	if q.to, err = clock(q.To); err != nil {
		return err
	}
	if q.from == q.to {
		return errors.New("from and to are the same time")
	}
	if severityRank(q.MinSeverity) < 0 {
		return fmt.Errorf("min_severity %q is not warning, alert or critical", q.MinSeverity)
	}
	return nil
}

func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM (Asia/Ho_Chi_Minh)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// set reports whether quiet hours are configured.
func (q *QuietHours) set() bool { return q.From != "" }

// holds reports whether a notification of this severity is held back at t,
// and until when.
func (q *QuietHours) holds(t time.Time, severity string) (bool, time.Time) {
	if !q.set() || severityRank(severity) >= severityRank(q.MinSeverity) {
		return false, time.Time{}
	}
	lt := t.In(event.Location)
	m := lt.Hour()*60 + lt.Minute()
	in := false
	if q.from < q.to {
		in = m >= q.from && m < q.to
	} else {
		in = m >= q.from || m < q.to
	}
	if !in {
		return false, time.Time{}
	}
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, event.Location)
	end := day.Add(time.Duration(q.to) * time.Minute)
	if !end.After(lt) {
		end = end.AddDate(0, 0, 1)
	}
	return true, end
}

// readSecret reads a secret from a file or an environment variable.
func readSecret(file, env, what string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w (create the file, readable only by the ioc user)", what, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("%s: file %s is empty", what, file)
		}
		return s, nil
	}
	if env != "" {
		s := strings.TrimSpace(os.Getenv(env))
		if s == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty", what, env)
		}
		return s, nil
	}
	return "", nil
}
