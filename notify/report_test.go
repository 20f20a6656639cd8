package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/smtptest"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/report"
)

// writeReport writes a small report of period into dir as the scheduler
// names its files, and returns the paths.
func writeReport(t *testing.T, dir, period string) []string {
	t.Helper()
	p, err := report.ParsePeriod(period)
	if err != nil {
		t.Fatal(err)
	}
	asOf := p.End
	v, d := 99.5, 200.0
	tile := event.Tile{ID: "dossiers.on_time", LabelVI: "Hồ sơ giải quyết đúng hạn", LabelEN: "Dossiers resolved on time", Unit: "percent",
		Value: &v, Numerator: 199, Denominator: &d, AsOfMs: asOf.UnixMilli()}
	rep := &report.Report{Period: p, PeriodKey: p.Label, AsOf: asOf, Generated: asOf.Add(24 * time.Hour),
		Lines: []report.Line{{Tile: tile, Trend: []event.Point{{At: "2021-06-30", Ms: asOf.UnixMilli(), Value: &v, Numerator: 199, Denominator: &d}}}}}
	var out []string
	for _, lang := range []string{"vi", "en"} {
		for _, f := range []string{report.PDF, report.XLSX} {
			name := filepath.Join(dir, rep.FileName(lang, f))
			var b bytes.Buffer
			if err := rep.Write(&b, lang, f); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, b.Bytes(), 0o640); err != nil {
				t.Fatal(err)
			}
			out = append(out, name)
		}
	}
	return out
}

// The scheduler's report of a closed month goes out on the channels of
// reports.channels: to a real SMTP server (aiosmtpd, STARTTLS, AUTH) as a
// mail whose subject decodes with its diacritics and whose attachments are
// the files byte for byte, and to a webhook as a signed JSON body of
// download links; both recorded in notification_log; told once.
func TestScheduledReportReachesMailboxAndWebhook(t *testing.T) {
	ch, conn := testClickHouse(t)
	srv := smtptest.Start(t)
	const secret = "a-shared-secret-of-32-characters"
	hookSrv, rec := receiver(t, secret, nil)
	hook := ChannelConfig{Kind: KindWebhook, URL: hookSrv.URL + "/hooks/reports", SecretFile: writeFile(t, secret+"\n")}
	cfg := Config{BaseURL: "https://ioc.sonla.gov.vn", Channels: map[string]ChannelConfig{
		"email-leaders": emailChannel(srv, "Lãnh đạo UBND <lanh.dao@sonla.gov.vn>"),
		"hook-reports":  hook,
		"hook-alerts":   hook, // not in reports.channels: told nothing
	}}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rn, err := NewReports(cfg, []string{"email-leaders", "hook-reports"}, ch, log)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := writeReport(t, dir, "2021-06")
	sch, err := report.NewScheduler(report.ScheduleConfig{Dir: dir, Monthly: true, Formats: []string{report.PDF, report.XLSX}},
		ch, kafkaconn.Config{}, log, rn)
	if err != nil {
		t.Fatal(err)
	}
	sch.Now = func() time.Time { return time.Date(2021, 7, 2, 8, 0, 0, 0, event.Location) }
	ctx := context.Background()
	if _, err := sch.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}

	// The mail.
	msgs := srv.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d mails in the mailbox, want 1", len(msgs))
	}
	m := msgs[0]
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != "IOC Sơn La · Báo cáo KPI tháng 06 năm 2021" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	attached := map[string][]byte{}
	text := ""
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(part)
		if part.FileName() == "" {
			text = string(raw) // quoted-printable decoded by the reader
			continue
		}
		if part.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Errorf("%s: transfer encoding %q", part.FileName(), part.Header.Get("Content-Transfer-Encoding"))
		}
		data, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(raw)))
		if err != nil {
			t.Fatalf("%s: %v", part.FileName(), err)
		}
		attached[part.FileName()] = data
	}
	if !strings.Contains(text, "Báo cáo chỉ số KPI của kỳ 2021-06") ||
		!strings.Contains(text, "https://ioc.sonla.gov.vn/api/kpis/report?format=pdf&lang=vi&period=2021-06") {
		t.Errorf("mail text:\n%s", text)
	}
	if len(attached) != len(files) {
		t.Errorf("%d attachments, want %d: %v", len(attached), len(files), attached)
	}
	for _, f := range files {
		want, _ := os.ReadFile(f)
		got := attached[filepath.Base(f)]
		if !bytes.Equal(got, want) {
			t.Errorf("attachment %s: %d bytes, the file has %d", filepath.Base(f), len(got), len(want))
		}
	}
	if pdf := attached["bao-cao-kpi-2021-06-vi.pdf"]; !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("the PDF attachment starts %q", pdf[:min(len(pdf), 8)])
	}

	// The webhook.
	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("%d webhook requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.sigOK != nil {
		t.Errorf("signature: %v", r.sigOK)
	}
	if r.path != "/hooks/reports" || r.header.Get(HeaderNotice) != NoticeReport || r.header.Get(HeaderIdempotency) != "report:2021-06" {
		t.Errorf("request %s, headers %v", r.path, r.header)
	}
	var body ReportBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Period != "2021-06" || body.Notice != NoticeReport || len(body.Files) != 4 ||
		body.Files[1] != (ReportFile{Name: "bao-cao-kpi-2021-06-vi.xlsx", Lang: "vi", Format: "xlsx",
			URL: "https://ioc.sonla.gov.vn/api/kpis/report?format=xlsx&lang=vi&period=2021-06"}) {
		t.Errorf("body: %s", r.body)
	}
	if bytes.Contains(r.body, []byte("%PDF")) {
		t.Error("the webhook body carries the file's bytes, not links")
	}

	// Recorded.
	testpoll.Eventually(t, 20*time.Second, "two sent reports in notification_log", func() (bool, string) {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM "+ch.Table("notification_log")+
			" WHERE notice = 'report' AND status = 'sent' AND idempotency_key = 'report:2021-06'").Scan(&n)
		return err == nil && n == 2, fmt.Sprintf("%d rows (%v)", n, err)
	})

	// Told once.
	if _, err := sch.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(srv.Messages(t)) != 1 || len(rec.all()) != 1 {
		t.Errorf("second check: %d mails, %d requests", len(srv.Messages(t)), len(rec.all()))
	}
}

// A channel that fails for good does not hold up the others; the
// scheduler's next check sends only to the channel that failed.
func TestReportRetriesOnlyTheFailedChannel(t *testing.T) {
	ch, _ := testClickHouse(t)
	srv := smtptest.Start(t)
	const secret = "a-shared-secret-of-32-characters"
	var fail atomic.Bool
	fail.Store(true)
	hookSrv, rec := receiver(t, secret, func(int) int {
		if fail.Load() {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	cfg := Config{Channels: map[string]ChannelConfig{
		"email-leaders": emailChannel(srv, "lanh.dao@sonla.gov.vn"),
		"hook":          {Kind: KindWebhook, URL: hookSrv.URL, SecretFile: writeFile(t, secret)},
	}}
	rn, err := NewReports(cfg, []string{"hook", "email-leaders"}, ch, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rd := report.Ready{Period: "2021-Q2", Written: time.Now(), Files: writeReport(t, dir, "2021-Q2")}
	if err := rn.ReportReady(context.Background(), rd); err == nil || !strings.Contains(err.Error(), "channel hook") {
		t.Fatalf("a 400 from the webhook: %v, want its error", err)
	}
	if len(srv.Messages(t)) != 1 || len(rec.all()) != 1 {
		t.Fatalf("%d mails, %d requests; want 1 and 1", len(srv.Messages(t)), len(rec.all()))
	}
	fail.Store(false)
	if err := rn.ReportReady(context.Background(), rd); err != nil {
		t.Fatal(err)
	}
	if len(srv.Messages(t)) != 1 || len(rec.all()) != 2 || rec.all()[1].sigOK != nil {
		t.Errorf("after the fix: %d mails, %d requests; want 1 and 2 (signed)", len(srv.Messages(t)), len(rec.all()))
	}
}

func TestCheckReportChannels(t *testing.T) {
	cfg := Config{Channels: map[string]ChannelConfig{"email-leaders": {Kind: KindEmail}}}
	for _, c := range []struct {
		names []string
		err   string
	}{
		{nil, ""},
		{[]string{"email-leaders"}, ""},
		{[]string{"email-leader"}, `channel "email-leader" is not in notify.channels`},
		{[]string{"email-leaders", "email-leaders"}, "listed twice"},
	} {
		err := cfg.CheckReportChannels(c.names)
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v: %v, want %q", c.names, err, c.err)
		}
	}
}

// A webhook answering 503 is retried with the channel's backoff within
// one call; the attempts are recorded (retry, then sent).
func TestReportRetriedWithBackoff(t *testing.T) {
	ch, conn := testClickHouse(t)
	const secret = "a-shared-secret-of-32-characters"
	hookSrv, rec := receiver(t, secret, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := Config{Channels: map[string]ChannelConfig{
		"hook": {Kind: KindWebhook, URL: hookSrv.URL, SecretFile: writeFile(t, secret), RetryFirst: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond},
	}}
	rn, err := NewReports(cfg, []string{"hook"}, ch, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rd := report.Ready{Period: "2021-06", Written: time.Now(), Files: writeReport(t, t.TempDir(), "2021-06")}
	if err := rn.ReportReady(context.Background(), rd); err != nil {
		t.Fatal(err)
	}
	if got := rec.all(); len(got) != 2 || got[1].sigOK != nil {
		t.Fatalf("%d requests, want 2 (a 503 then a signed 200)", len(got))
	}
	var statuses []string
	rows, err := conn.Query(context.Background(), "SELECT status FROM "+ch.Table("notification_log")+
		" WHERE notice = 'report' ORDER BY attempt")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		statuses = append(statuses, s)
	}
	rows.Close()
	if strings.Join(statuses, " ") != "retry sent" {
		t.Errorf("notification_log statuses %v, want retry sent", statuses)
	}
}
