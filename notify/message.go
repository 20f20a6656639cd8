package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/sonla-ioc/ioc/internal/event"
)

// Notices: what a notification tells.
const (
	NoticeOpen         = "open"
	NoticeEscalated    = "escalated"
	NoticeRepeat       = "repeat"
	NoticeAcknowledged = "acknowledged"
	NoticeResolved     = "resolved"
)

// Notice is one notification as every channel renders it, and the JSON
// body of a webhook (docs/notifications.md).
type Notice struct {
	Version int `json:"version"`
	// Key is the idempotency key: alert id, transition id and repeat
	// number; the same notification always has the same key, also after
	// a restart of the notifier, so a receiver can drop a duplicate.
	Key    string `json:"idempotency_key"`
	Notice string `json:"notice"`
	Repeat int    `json:"repeat"`
	// Channel is the configured channel's name.
	Channel string `json:"channel"`
	// CreatedAt is when the notifier decided to send it (RFC 3339, +07:00);
	// retries keep it.
	CreatedAt string `json:"created_at"`
	// Title and Text are Vietnamese, ready to show.
	Title string    `json:"title"`
	Text  string    `json:"text"`
	URL   string    `json:"url"`
	Alert AlertBody `json:"alert"`
}

// AlertBody is the alert's state after the transition.
type AlertBody struct {
	ID           string  `json:"id"`
	TransitionID string  `json:"transition_id"`
	Rule         string  `json:"rule"`
	Kind         string  `json:"kind"`
	Severity     string  `json:"severity"`
	SeverityName string  `json:"severity_name"`
	State        string  `json:"state"`
	Level        int     `json:"level"`
	Acked        bool    `json:"acked"`
	Subject      string  `json:"subject"`
	DeviceID     string  `json:"device_id,omitempty"`
	Partner      string  `json:"partner,omitempty"`
	Ward         string  `json:"ward,omitempty"`
	Metric       string  `json:"metric,omitempty"`
	Value        float64 `json:"value"`
	Threshold    float64 `json:"threshold"`
	Stage        string  `json:"stage,omitempty"`
	Message      string  `json:"message"`
	OpenedAt     string  `json:"opened_at"`
	At           string  `json:"at"`
	Operator     string  `json:"operator,omitempty"`
	Note         string  `json:"note,omitempty"`
}

// severityName is the wall's name of a severity.
func severityName(s string) string {
	switch s {
	case event.SeverityWarning:
		return "Cảnh báo"
	case event.SeverityAlert:
		return "Báo động"
	case event.SeverityCritical:
		return "Khẩn cấp"
	}
	return s
}

func localTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).In(event.Location).Format(time.RFC3339)
}

func shortTime(ms int64) string {
	return time.UnixMilli(ms).In(event.Location).Format("15:04 02/01/2006")
}

// idempotencyKey names one notification of one transition of an alert.
func idempotencyKey(ev *event.AlertEvent, repeat int) string {
	return ev.AlertID + ":" + ev.ID + ":" + strconv.Itoa(repeat)
}

// alertURL links to the alert on the wall.
func alertURL(base, alertID string) string {
	return strings.TrimRight(base, "/") + "/?alert=" + url.QueryEscape(alertID)
}

// newNotice renders a transition for one channel.
func newNotice(ev *event.AlertEvent, notice string, repeat int, channel, baseURL string, now time.Time) Notice {
	n := Notice{Version: 1, Key: idempotencyKey(ev, repeat), Notice: notice, Repeat: repeat, Channel: channel,
		CreatedAt: now.In(event.Location).Format(time.RFC3339), URL: alertURL(baseURL, ev.AlertID),
		Alert: AlertBody{ID: ev.AlertID, TransitionID: ev.ID, Rule: ev.Rule, Kind: ev.Kind, Severity: ev.Severity,
			SeverityName: severityName(ev.Severity), State: ev.State, Level: ev.Level, Acked: ev.Acked, Subject: ev.Subject,
			DeviceID: ev.DeviceID, Partner: ev.Partner, Ward: ev.Ward, Metric: ev.Metric, Value: ev.Value, Threshold: ev.Threshold,
			Stage: ev.Stage, Message: ev.Message, OpenedAt: localTime(ev.OpenedMs), At: localTime(ev.AtMs), Operator: ev.Operator, Note: ev.Note}}
	sev := severityName(ev.Severity)
	switch notice {
	case NoticeEscalated:
		n.Title = fmt.Sprintf("[%s · nâng mức %d] %s", sev, ev.Level, ev.Message)
	case NoticeRepeat:
		n.Title = fmt.Sprintf("[%s · nhắc lại lần %d, chưa ai xác nhận] %s", sev, repeat, ev.Message)
	case NoticeAcknowledged:
		n.Title = "[Đã xác nhận] " + ev.Message
	case NoticeResolved:
		n.Title = "[Đã kết thúc] " + ev.Message
	default:
		n.Title = fmt.Sprintf("[%s] %s", sev, ev.Message)
	}
	n.Title = "IOC Sơn La " + n.Title
	var b strings.Builder
	line := func(label, v string) {
		if v != "" {
			b.WriteString(label + ": " + v + "\n")
		}
	}
	b.WriteString(n.Title + "\n\n")
	line("Nội dung", ev.Message)
	line("Mức độ", sev)
	line("Địa bàn", ev.Ward)
	if ev.DeviceID != "" {
		dev := ev.DeviceID
		if ev.Partner != "" {
			dev += " (" + ev.Partner + ")"
		}
		line("Thiết bị", dev)
	}
	if ev.Metric != "" {
		line("Giá trị", strconv.FormatFloat(ev.Value, 'f', -1, 64)+" "+ev.Metric+" (ngưỡng "+strconv.FormatFloat(ev.Threshold, 'f', -1, 64)+")")
	}
	line("Mức cảnh báo", ev.Stage)
	line("Bắt đầu", shortTime(ev.OpenedMs))
	line("Cập nhật", shortTime(ev.AtMs))
	line("Người xác nhận", ev.Operator)
	line("Ghi chú", ev.Note)
	b.WriteString("\nXem trên màn hình điều hành: " + n.URL + "\n")
	n.Text = b.String()
	return n
}

// templateFuncs are the functions of channel templates.
var templateFuncs = template.FuncMap{
	// json renders a value as JSON (a string quoted and escaped).
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	// trunc cuts a string to at most n characters (runes).
	"trunc": func(n int, s string) string {
		if utf8.RuneCountInString(s) <= n {
			return s
		}
		r := []rune(s)
		return string(r[:max(n-1, 0)]) + "…"
	},
}

// The built-in templates of the chat channels (docs/notifications.md).
var (
	telegramTemplate = template.Must(template.New("telegram").Funcs(templateFuncs).Parse(
		`{"chat_id": {{json .ChatID}}, "text": {{json (trunc 4096 .Text)}}, "disable_web_page_preview": true}`))
	zaloTemplate = template.Must(template.New("zalo").Funcs(templateFuncs).Parse(
		`{"recipient": {"user_id": {{json .UserID}}}, "message": {"text": {{json (trunc 2000 .Text)}}}}`))
)

// templateData is what a channel template sees: the notice and the
// channel's recipient.
type templateData struct {
	Notice
	ChatID string
	UserID string
}

// renderBody is the request body of a webhook, telegram or zalo channel.
func renderBody(ch *ChannelConfig, n *Notice) ([]byte, error) {
	t := ch.tmpl
	if t == nil {
		switch ch.Kind {
		case KindTelegram:
			t = telegramTemplate
		case KindZalo:
			t = zaloTemplate
		default:
			return json.Marshal(n)
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, templateData{Notice: *n, ChatID: ch.ChatID, UserID: ch.UserID}); err != nil {
		return nil, fmt.Errorf("rendering the %s template: %w", ch.Kind, err)
	}
	if !json.Valid(buf.Bytes()) {
		return nil, fmt.Errorf("the %s template did not render valid JSON (use {{json .Text}} for strings)", ch.Kind)
	}
	return buf.Bytes(), nil
}

// emailMessage is the RFC 5322 message of a notice: UTF-8 text,
// quoted-printable, the subject and display names RFC 2047 encoded, a Message-ID made from
// the idempotency key (a mail client threads and de-duplicates by it).
func emailMessage(from *mail.Address, to []*mail.Address, n *Notice, now time.Time) []byte {
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	// Address.String encodes a display name with diacritics (RFC 2047).
	h("From", from.String())
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	h("To", strings.Join(tos, ", "))
	h("Subject", mime.BEncoding.Encode("UTF-8", n.Title))
	h("Date", now.In(event.Location).Format(time.RFC1123Z))
	h("Message-ID", "<"+strings.ReplaceAll(n.Key, ":", ".")+"@ioc.sonla>")
	h("X-IOC-Alert-ID", n.Alert.ID)
	h("X-IOC-Idempotency-Key", n.Key)
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=UTF-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(n.Text, "\n", "\r\n")))
	_ = qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
