package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/stream/rollup"
)

// The device page and the notifications admin page switch between
// Vietnamese and English from the one table (lib/strings.js) like every
// other page: headings, the values the server sends (status, cause,
// severity, alert state, device type, notice, delivery status), chart
// legends and the document title follow the switch; the choice holds after
// a reload and carries from one page to the other (localStorage ioc-lang).
// Their content comes from the real ClickHouse.
func TestDeviceAndNotificationPagesSwitchLanguageInChromium(t *testing.T) {
	ch, conn := rollupDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	now := time.Now()

	// Six hours of readings (rolled up), a status change, an alert and
	// three notifications in ClickHouse.
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, unit, observed_at, observed_ms, received_at, received_ms, ward, registered)")
	if err != nil {
		t.Fatal(err)
	}
	for at := now.Add(-6 * time.Hour).Truncate(time.Hour); at.Before(now); at = at.Add(30 * time.Minute) {
		ms := at.UnixMilli()
		if err := b.Append(event.ReadingID("viettel", pageDevice, "pm25", ms), "viettel", pageDevice, "pm25", int8(1), 30+float64(at.Hour()), "ug/m3",
			at, ms, at, ms, "Phường Chiềng Lề", uint8(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if _, err := rollup.New(rollup.Config{}, ch, slog.New(slog.DiscardHandler), nil).Once(ctx, conn); err != nil {
		t.Fatal(err)
	}
	seedDeviceHistory(ctx, t, conn, ch.Database, now.Add(-5*time.Hour), now.Add(-26*time.Hour), "PM2.5 vượt ngưỡng: 88 µg/m³")
	b, err = conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".notification_log (record_id, at, at_ms, channel, channel_kind, alert_id, transition_id, notice, repeat, idempotency_key, rule, severity, ward, partner, status, attempt, target, error, latency_ms)")
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []struct {
		notice string
		repeat uint16
		status string
	}{{"open", 0, "sent"}, {"repeat", 2, "retry"}, {"resolved", 0, "deferred"}} {
		at := now.Add(-time.Duration(30-i*10) * time.Minute)
		if err := b.Append(fmt.Sprint("n-", i), at, at.UnixMilli(), "oncall-hook", "webhook", "al-pm25", fmt.Sprint("tr-", i), n.notice, n.repeat,
			fmt.Sprint("key-", i), "pm25_high", "alert", "Phường Chiềng Lề", "viettel", n.status, uint16(1), "https://hooks.example/…", "", uint32(12)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	// The dashboard over that database, with sign-in.
	s, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond, Auth: auth.Config{Store: "memory"}},
		kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}}, ch, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(filepath.Join("..", "deploy", "devices.csv"))
	if err != nil {
		t.Fatal(err)
	}
	s.wall.setRegistry(reg.Devices(), "test")
	s.wall.reading(&event.Reading{Partner: "viettel", DeviceID: pageDevice, Metric: "pm25", Kind: event.KindNumber, Value: 41.5, Unit: "ug/m3",
		ObservedMs: now.UnixMilli(), ReceivedMs: now.UnixMilli(), Ward: "Phường Chiềng Lề", Registered: true})
	s.wall.status(&event.DeviceStatus{Kind: event.SubjectDevice, DeviceID: pageDevice, Partner: "viettel", Status: event.StatusOnline,
		Cause: "reading", AtMs: now.UnixMilli()})
	s.wall.flush()
	role, pw := auth.RoleAdmin, "quan-tri-mat-khau-du-dai"
	if _, err := s.Auth().SaveUser(ctx, auth.UserChange{Username: "quan.tri", Role: &role, Password: &pw}, auth.Principal{Name: "test", Role: auth.RoleAdmin}, ""); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes()}
	go func() { _ = srv.Serve(ln) }()
	defer func() { s.v2.closeAll("test over"); srv.Close() }()
	base := "http://" + ln.Addr().String()

	dir := screenshotDir(t)
	br := startBrowser(t, 1400, 1000)
	toggle := func() { br.eval(`document.getElementById('lang').click()`, nil) }
	shot := func(name string) {
		p := filepath.Join(dir, name+".png")
		br.screenshot(p)
		t.Logf("screenshot: %s", p)
	}
	title := func() string {
		var s string
		br.eval(`document.title`, &s)
		return s
	}

	// Sign in, to the device page: Vietnamese, the default.
	devicePage := "/device.html?id=" + pageDevice
	br.navigate(base + "/login?next=" + strings.ReplaceAll(devicePage, "?", "%3F"))
	br.waitJS("the sign-in form", `!!document.querySelector('form[action="/login"] input[name="password"]')`, 30*time.Second)
	br.eval(`(() => { const f = document.querySelector('form[action="/login"]'); f.username.value = 'quan.tri'; f.password.value = '`+pw+`'; f.submit(); return true; })()`, nil)
	br.waitJS("the device page is ready", `location.pathname === '/device.html' && window.__device && window.__device.ready`, 30*time.Second)
	vi := map[string]string{
		"#h-identity": "Thông tin thiết bị", "#registry": "Quan trắc không khí", "#status": "Hoạt động · có số liệu mới", "#conn": "Trực tuyến",
		"#status-history": "Mất kết nối", "#alerts": "Báo động", "#alerts li": "Đã xử lý", "#ranges button": "24 giờ",
		"#values": "giây trước", "#back": "Màn hình điều hành", "#lang": "English", ".chart .u-legend th": "Thời điểm",
	}
	en := map[string]string{
		"#h-identity": "Device", "#registry": "Air quality", "#status": "Online · new reading", "#conn": "Live",
		"#status-history": "Offline", "#alerts": "Alarm", "#alerts li": "Resolved", "#ranges button": "24 hours",
		"#values": "s ago", "#back": "Operations wall", "#lang": "Tiếng Việt", ".chart .u-legend": "Mean", ".chart .u-legend th": "Time",
	}
	br.waitJS("the device page's chart", `document.querySelectorAll('.chart .u-legend').length > 0`, 15*time.Second)
	waitPage(br, "the device page", "vi", vi)
	if tt := title(); !strings.Contains(tt, "Thiết bị") {
		t.Errorf("the device page's title in Vietnamese: %q", tt)
	}
	shot("device-vi")
	toggle()
	waitPage(br, "the device page", "en", en)
	br.navigate(base + devicePage)
	br.waitJS("the device page after a reload", `window.__device && window.__device.ready`, 30*time.Second)
	waitPage(br, "the device page after a reload", "en", en)
	if tt := title(); !strings.Contains(tt, "Device") {
		t.Errorf("the device page's title in English: %q", tt)
	}
	shot("device-en")

	// The notifications page: English carried over, then Vietnamese.
	br.navigate(base + "/admin/notifications")
	waitPage(br, "the notifications page", "en", map[string]string{
		"h1": "Notifications sent", "#notifications thead": "Recipient", "#status": "3 records", "header a": "Administration",
		"#notifications tbody": "deferred (quiet hours)", "#filter select": "any status",
	})
	var rows []string
	br.eval(`[...document.querySelectorAll('#notifications tbody tr')].map(r => r.textContent)`, &rows)
	if got := strings.Join(rows, "|"); !strings.Contains(got, "repeat #2") || !strings.Contains(got, "retry") || !strings.Contains(got, "Alarm") {
		t.Errorf("notifications in English: %q", rows)
	}
	if tt := title(); !strings.HasPrefix(tt, "Notifications sent") {
		t.Errorf("the notifications page's title in English: %q", tt)
	}
	shot("notifications-en")
	toggle()
	viNotif := map[string]string{
		"h1": "Thông báo đã gửi", "#notifications thead": "Nơi nhận", "#status": "3 bản ghi", "header a": "Quản trị",
		"#notifications tbody": "hoãn (giờ yên tĩnh)", "#filter select": "mọi trạng thái", "#lang": "English",
	}
	waitPage(br, "the notifications page", "vi", viNotif)
	br.navigate(base + "/admin/notifications")
	waitPage(br, "the notifications page after a reload", "vi", viNotif)
	br.eval(`[...document.querySelectorAll('#notifications tbody tr')].map(r => r.textContent)`, &rows)
	if got := strings.Join(rows, "|"); !strings.Contains(got, "nhắc lại #2") || !strings.Contains(got, "thử lại") || !strings.Contains(got, "Báo động") {
		t.Errorf("notifications in Vietnamese: %q", rows)
	}
	shot("notifications-vi")

	// And back on the device page, Vietnamese.
	br.navigate(base + devicePage)
	br.waitJS("the device page again", `window.__device && window.__device.ready`, 30*time.Second)
	waitPage(br, "the device page after the notifications page", "vi", map[string]string{"#h-identity": "Thông tin thiết bị", "#status": "Hoạt động"})

	for _, e := range br.errors() {
		if !strings.Contains(e, "favicon.ico") {
			t.Errorf("browser: %s", e)
		}
	}
}
