package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/report"
)

// NoticeReport is the notice of a scheduled KPI report (notification_log's
// notice column, the webhook's X-IOC-Notice header).
const NoticeReport = "report"

// MaxReportAttachments bounds the bytes attached to one report e-mail;
// beyond it the mail carries the download links only.
const MaxReportAttachments = 20 << 20

// CheckReportChannels reports a name of reports.channels that is not a
// channel of notify.channels, or listed twice (ioc check-config).
func (c *Config) CheckReportChannels(names []string) error {
	for i, n := range names {
		if _, ok := c.Channels[n]; !ok {
			return fmt.Errorf("reports.channels: channel %q is not in notify.channels (define it there: kind webhook, email, telegram or zalo)", n)
		}
		if slices.Contains(names[:i], n) {
			return fmt.Errorf("reports.channels: channel %q is listed twice", n)
		}
	}
	return nil
}

// ReportFile is one file of a report in the webhook's body.
type ReportFile struct {
	Name   string `json:"name"`
	Lang   string `json:"lang"`
	Format string `json:"format"`
	// URL downloads it from the wall (a leader's session):
	// {base_url}/api/kpis/report?period=…&lang=…&format=….
	URL string `json:"url"`
}

// ReportBody is the JSON body of a webhook telling of a scheduled report
// (docs/notifications.md): links, never the files' bytes.
type ReportBody struct {
	Version   int          `json:"version"`
	Key       string       `json:"idempotency_key"`
	Notice    string       `json:"notice"` // "report"
	Channel   string       `json:"channel"`
	CreatedAt string       `json:"created_at"`
	Title     string       `json:"title"`
	Text      string       `json:"text"`
	Period    string       `json:"period"`
	WrittenAt string       `json:"written_at"`
	Files     []ReportFile `json:"files"`
}

// Reports sends the scheduled KPI reports (report.Scheduler) on the
// channels of reports.channels: e-mail with the files attached, webhook
// with a signed JSON body of download links, Telegram and Zalo with the
// links in the text. It implements report.Notifier.
type Reports struct {
	cfg     Config
	names   []string
	senders map[string]sender
	ch      chconn.Config
	rec     *recorder
	log     *slog.Logger
	// Now is the clock (a test may set it).
	Now func() time.Time
}

// NewReports prepares the channels named (reports.channels); it reads their
// secrets, so a missing secret stops the start with a clear error. A
// disabled channel is skipped. ch is where notification_log is.
func NewReports(cfg Config, channels []string, ch chconn.Config, log *slog.Logger) (*Reports, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.CheckReportChannels(channels); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log = log.With("component", "notify-reports")
	r := &Reports{cfg: cfg, senders: map[string]sender{}, ch: ch, log: log, Now: time.Now,
		rec: newRecorder(1000, ch, log, newMetrics(nil))}
	for _, name := range channels {
		c := r.cfg.Channels[name]
		if !on(c.Enabled) {
			continue
		}
		snd, err := newSender(name, &c)
		if err != nil {
			return nil, err
		}
		r.names = append(r.names, name)
		r.senders[name] = snd
	}
	return r, nil
}

// ReportReady sends one period's report on every channel that has not
// received it yet, each retried with the channel's backoff for up to its
// retry_for. A channel that received it is remembered by a marker file
// beside the report (.sent-<period>-<channel>), so that the scheduler's
// next call after a failure sends only to the channels that failed. Every
// attempt is recorded in notification_log (notice "report"); a failure
// to record is logged, never returned.
func (r *Reports) ReportReady(ctx context.Context, rd report.Ready) error {
	if len(rd.Files) == 0 {
		return nil
	}
	dir := filepath.Dir(rd.Files[0])
	var rows []logRow
	var errs []error
	for _, name := range r.names {
		marker := filepath.Join(dir, ".sent-"+rd.Period+"-"+name)
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		c := r.cfg.Channels[name]
		snd := r.senders[name]
		n := r.notice(rd, name)
		var send func(context.Context) error
		switch m := snd.(type) {
		case *mailer:
			msg, err := reportEmail(m, &n, rd.Files, r.Now())
			if err != nil {
				rows = append(rows, r.row(name, &c, snd, n, StatusFailed, 0, err.Error(), 0))
				errs = append(errs, fmt.Errorf("channel %s: %w", name, err))
				continue
			}
			send = func(ctx context.Context) error { return m.deliver(ctx, msg) }
		case *hook:
			body, err := r.hookBody(m.ch, rd, &n)
			if err != nil {
				rows = append(rows, r.row(name, &c, snd, n, StatusFailed, 0, err.Error(), 0))
				errs = append(errs, fmt.Errorf("channel %s: %w", name, err))
				continue
			}
			send = func(ctx context.Context) error { return m.post(ctx, body, n.Key, NoticeReport) }
		}
		rctx, cancel := context.WithTimeout(ctx, c.RetryFor)
		attempt := 0
		var last error
		err := backoff.Policy{First: c.RetryFirst, Max: c.RetryMax}.Retry(rctx, r.log.With("channel", name), "sending the report of "+rd.Period, func() error {
			attempt++
			start := time.Now()
			err := send(rctx)
			lat := time.Since(start)
			if err == nil {
				rows = append(rows, r.row(name, &c, snd, n, StatusSent, attempt, "", lat))
				return nil
			}
			last = err
			if isPermanent(err) {
				return nil
			}
			rows = append(rows, r.row(name, &c, snd, n, StatusRetry, attempt, err.Error(), lat))
			return err
		})
		cancel()
		switch {
		case last != nil && isPermanent(last):
			err = last
		case err == nil:
			if werr := os.WriteFile(marker, []byte(r.Now().Format(time.RFC3339)+"\n"), 0o640); werr != nil {
				r.log.Warn("report sent but its marker not written: it may be sent again", "channel", name, "period", rd.Period, "err", werr)
			}
			r.log.Info("report sent", "channel", name, "period", rd.Period, "target", snd.target(), "attempts", attempt)
			continue
		}
		rows = append(rows, r.row(name, &c, snd, n, StatusFailed, attempt, err.Error(), 0))
		r.log.Error("report not sent; the scheduler tries again at its next check", "channel", name, "period", rd.Period, "attempts", attempt, "err", err)
		errs = append(errs, fmt.Errorf("channel %s: %w", name, err))
	}
	r.store(rows)
	return errors.Join(errs...)
}

func (r *Reports) row(name string, c *ChannelConfig, snd sender, n Notice, status string, attempt int, errText string, lat time.Duration) logRow {
	return logRow{channel: name, kind: c.Kind, n: n, status: status, attempt: attempt, target: snd.target(), err: errText, latency: lat, at: time.Now()}
}

// store writes the records within 15 s; a failure is logged only.
func (r *Reports) store(rows []logRow) {
	if len(rows) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := r.ch.Open(ctx)
	if err == nil {
		err = r.rec.insert(ctx, conn, rows)
		conn.Close()
	}
	if err != nil {
		r.log.Warn("report notifications not recorded in notification_log", "rows", len(rows), "err", err)
	}
}

// files lists a report's files with their download links.
func (r *Reports) files(rd report.Ready) []ReportFile {
	out := make([]ReportFile, 0, len(rd.Files))
	for _, f := range rd.Files {
		name := filepath.Base(f)
		format := strings.TrimPrefix(filepath.Ext(name), ".")
		stem := strings.TrimSuffix(name, filepath.Ext(name))
		lang := stem[strings.LastIndexByte(stem, '-')+1:]
		q := url.Values{"period": {rd.Period}, "lang": {lang}, "format": {format}}
		out = append(out, ReportFile{Name: name, Lang: lang, Format: format,
			URL: strings.TrimRight(r.cfg.BaseURL, "/") + "/api/kpis/report?" + q.Encode()})
	}
	return out
}

// notice is the report's notification as the chat templates and the log
// see it: Vietnamese title and text with the links.
func (r *Reports) notice(rd report.Ready, channel string) Notice {
	title := "IOC Sơn La · Báo cáo KPI " + rd.Period
	if p, err := report.ParsePeriod(rd.Period); err == nil {
		title = "IOC Sơn La · Báo cáo KPI " + p.Title("vi")
	}
	var b strings.Builder
	b.WriteString(title + "\n\n")
	b.WriteString("Báo cáo chỉ số KPI của kỳ " + rd.Period + " đã được lập")
	if !rd.Written.IsZero() {
		b.WriteString(" lúc " + rd.Written.In(event.Location).Format("15:04 02/01/2006"))
	}
	b.WriteString(".\n\nTải về (đăng nhập màn hình điều hành):\n")
	files := r.files(rd)
	for _, f := range files {
		b.WriteString("- " + f.Name + ": " + f.URL + "\n")
	}
	n := Notice{Version: 1, Key: "report:" + rd.Period, Notice: NoticeReport, Channel: channel,
		CreatedAt: r.Now().In(event.Location).Format(time.RFC3339), Title: title, Text: b.String(),
		Alert: AlertBody{ID: "report:" + rd.Period, Kind: NoticeReport, Subject: rd.Period, Message: title}}
	if len(files) > 0 {
		n.URL = files[0].URL
	}
	return n
}

// hookBody is the request body of a webhook (ReportBody, or the channel's
// template), telegram or zalo channel.
func (r *Reports) hookBody(ch *ChannelConfig, rd report.Ready, n *Notice) ([]byte, error) {
	if ch.Kind != KindWebhook || ch.tmpl != nil {
		return renderBody(ch, n)
	}
	b := ReportBody{Version: 1, Key: n.Key, Notice: NoticeReport, Channel: n.Channel, CreatedAt: n.CreatedAt,
		Title: n.Title, Text: n.Text, Period: rd.Period, Files: r.files(rd)}
	if !rd.Written.IsZero() {
		b.WrittenAt = rd.Written.In(event.Location).Format(time.RFC3339)
	}
	return json.Marshal(b)
}

// contentType of a report file by its format.
func contentType(format string) string {
	switch format {
	case report.PDF:
		return "application/pdf"
	case report.XLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case "csv":
		return "text/csv; charset=UTF-8"
	}
	return "application/octet-stream"
}

// reportEmail is a multipart/mixed message: the text (quoted-printable)
// then each file as a base64 attachment. Files beyond
// MaxReportAttachments in all are not attached; their links are in the
// text.
func reportEmail(m *mailer, n *Notice, files []string, now time.Time) ([]byte, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	boundary := "ioc-" + hex.EncodeToString(rnd[:])
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", m.from.String())
	tos := make([]string, len(m.to))
	for i, a := range m.to {
		tos[i] = a.String()
	}
	h("To", strings.Join(tos, ", "))
	h("Subject", mime.BEncoding.Encode("UTF-8", n.Title))
	h("Date", now.In(event.Location).Format(time.RFC1123Z))
	h("Message-ID", "<"+strings.ReplaceAll(n.Key, ":", ".")+"."+n.Channel+"@ioc.sonla>")
	h("X-IOC-Idempotency-Key", n.Key)
	h("MIME-Version", "1.0")
	h("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary}))
	b.WriteString("\r\n--" + boundary + "\r\n")
	h("Content-Type", "text/plain; charset=UTF-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(n.Text, "\n", "\r\n")))
	_ = qp.Close()
	b.WriteString("\r\n")
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, permanentError{fmt.Errorf("reading the report file to attach: %w", err)}
		}
		if total += len(data); total > MaxReportAttachments {
			continue
		}
		name := filepath.Base(f)
		b.WriteString("--" + boundary + "\r\n")
		h("Content-Type", contentType(strings.TrimPrefix(filepath.Ext(name), ".")))
		h("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		h("Content-Transfer-Encoding", "base64")
		b.WriteString("\r\n")
		enc := base64.StdEncoding.EncodeToString(data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}
