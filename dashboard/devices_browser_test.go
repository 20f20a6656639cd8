package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// An admin adds a water-level station with its own alarm levels from the
// admin page in Chromium, edits it, then retires it: each change goes
// round the real Kafka registry topic, and the dashboard's wall follows it
// with no restart; the page runs under the strict CSP without an error.
func TestAdminAddsDeviceInChromium(t *testing.T) {
	brokers := os.Getenv("IOC_KAFKA_BROKERS")
	if brokers == "" {
		brokers = "127.0.0.1:9092"
	}
	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), TopicPrefix: fmt.Sprintf("devadmin%d.", time.Now().UnixNano()%1e9)}
	kc.Defaults()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = kc.DeleteTopicsWithPrefix(ctx)
	})
	s, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond, Auth: auth.Config{Store: "memory"},
		Wall: WallConfig{RegistryFile: filepath.Join("..", "deploy", "devices.csv")}},
		kc, chconn.Config{Addr: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.regf.Run(ctx) }()
	go runWallLoop(ctx, s)
	t.Cleanup(func() { s.v2.closeAll("test over") })
	testpoll.Eventually(t, 30*time.Second, "the dashboard reads the registry topic", func() (bool, string) { return s.regf.Ready(), "" })
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	role, pw := auth.RoleAdmin, "quan-tri-mat-khau-du-dai"
	if _, err := s.Auth().SaveUser(ctx, auth.UserChange{Username: "quan.tri", Role: &role, Password: &pw},
		auth.Principal{Name: "test", Role: auth.RoleAdmin}, ""); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t, 1600, 1000)
	b.navigate(srv.URL + "/login?next=%2Fadmin")
	b.waitJS("the sign-in form", `!!document.querySelector('form[action="/login"] input[name="password"]')`, 30*time.Second)
	b.eval(`(() => { const f = document.querySelector('form[action="/login"]');
		f.username.value = 'quan.tri'; f.password.value = '`+pw+`'; f.submit(); return true; })()`, nil)
	b.waitJS("the admin page lists the CSV's devices", `document.querySelectorAll('#devices tbody tr').length >= 60`, 30*time.Second)
	var title string
	b.eval(`document.getElementById('devices-title').textContent`, &title)
	if title != "Thiết bị" {
		t.Errorf("section title %q, want Thiết bị (Vietnamese, the default)", title)
	}

	// Add.
	b.eval(`(() => { const f = document.getElementById('device-form'), v = (n, x) => { f.elements.namedItem(n).value = x; };
		v('device_id', 'water-browser-1'); v('partner', 'viettel'); v('type', 'water_level'); v('ward', 'Xã Chiềng Cọ');
		v('name', 'Trạm đo mực nước thử'); v('lat', '21.35'); v('lon', '103.89'); v('interval_s', '60');
		v('levels', 'water_level=Báo động riêng 1:3.2:warning,Báo động riêng 2:3.8:alert');
		f.requestSubmit(); return true; })()`, nil)
	b.waitJS("the new device in the table", `(() => { const r = document.querySelector('#devices tr[data-device="water-browser-1"]');
		return r && r.textContent.includes('water_level=Báo động riêng 1:3.2:warning,Báo động riêng 2:3.8:alert'); })()`, 30*time.Second)
	testpoll.Eventually(t, 10*time.Second, "the wall knows the new device", func() (bool, string) {
		s.wall.mu.Lock()
		defer s.wall.mu.Unlock()
		m, ok := s.wall.reg.lookup("water-browser-1")
		return ok && m.Name == "Trạm đo mực nước thử" && m.Type == "water_level", fmt.Sprint(m)
	})
	if rec, ok := s.devices.current("water-browser-1"); !ok || len(rec.Alarms) != 1 || rec.Alarms[0].Levels[1].Value != 3.8 ||
		rec.Actor != "quan.tri" || rec.Source != "admin" {
		t.Errorf("record %+v", rec)
	}

	// Edit: rename, and a maintenance window from an hour ago for two hours.
	b.eval(`(() => { document.querySelector('#devices tr[data-device="water-browser-1"] button[name="edit"]').click();
		const f = document.getElementById('device-form'), v = (n, x) => { f.elements.namedItem(n).value = x; };
		const pad = (n) => String(n).padStart(2, '0'), loc = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
		v('name', 'Trạm đã sửa'); v('maint_from', loc(new Date(Date.now() - 3600e3))); v('maint_to', loc(new Date(Date.now() + 3600e3)));
		v('note', 'thay cảm biến'); f.requestSubmit(); return true; })()`, nil)
	b.waitJS("the edited device in maintenance", `(() => { const r = document.querySelector('#devices tr[data-device="water-browser-1"]');
		return r && r.textContent.includes('Trạm đã sửa') && r.textContent.includes('đang bảo trì'); })()`, 30*time.Second)
	testpoll.Eventually(t, 10*time.Second, "the wall shows the maintenance", func() (bool, string) {
		s.wall.mu.Lock()
		defer s.wall.mu.Unlock()
		m, _ := s.wall.reg.lookup("water-browser-1")
		return m.Name == "Trạm đã sửa" && m.MaintTo > time.Now().UnixMilli(), fmt.Sprint(m)
	})

	// The wall's map shows it under maintenance.
	b.navigate(srv.URL + "/")
	b.waitJS("the wall shows the station under maintenance",
		`document.querySelector('circle[data-device="water-browser-1"]').classList.contains('maintenance')`, 30*time.Second)
	b.screenshot(filepath.Join(screenshotDir(t), "wall-maintenance.png"))
	b.navigate(srv.URL + "/admin")
	b.waitJS("the admin page again", `!!document.querySelector('#devices tr[data-device="water-browser-1"] button[name="retire"]')`, 30*time.Second)

	// Retire.
	b.eval(`(() => { window.confirm = () => true;
		document.querySelector('#devices tr[data-device="water-browser-1"] button[name="retire"]').click(); return true; })()`, nil)
	b.waitJS("the device retired", `(() => { const r = document.querySelector('#devices tr[data-device="water-browser-1"]');
		return r && r.textContent.includes('đã ngừng') && !r.querySelector('button'); })()`, 30*time.Second)
	testpoll.Eventually(t, 10*time.Second, "the wall no longer shows it", func() (bool, string) {
		s.wall.mu.Lock()
		defer s.wall.mu.Unlock()
		_, ok := s.wall.reg.lookup("water-browser-1")
		return !ok, ""
	})
	b.screenshot(filepath.Join(screenshotDir(t), "admin-devices.png"))

	// The section follows the page's language switch (the one table), and
	// the choice holds after a reload.
	b.eval(`document.getElementById('lang').click()`, nil)
	inEnglish := `document.documentElement.lang === 'en' && document.getElementById('devices-title').textContent === 'Devices' &&
		document.querySelector('#devices th').textContent === 'Id' && document.querySelector('#device-form [name=lat]').placeholder === 'Latitude' &&
		document.querySelector('#device-form [name=save]').textContent === 'Add' &&
		document.querySelector('#devices tr[data-device="water-browser-1"]').textContent.includes('retired') &&
		[...document.querySelectorAll('#devices tbody tr')].some(r => r.textContent.includes('active') && r.querySelector('button[name=edit]').textContent === 'Edit')`
	b.waitJS("the devices section in English", inEnglish, 10*time.Second)
	b.navigate(srv.URL + "/admin")
	b.waitJS("the devices section in English after a reload", inEnglish, 30*time.Second)
	b.screenshot(filepath.Join(screenshotDir(t), "admin-devices-en.png"))
	for _, e := range b.errors() {
		// The sign-in page's browser asks for favicon.ico without
		// credentials; the audit section needs ClickHouse, absent here.
		if !strings.Contains(e, "favicon.ico") && !strings.Contains(e, "/api/admin/audit") {
			t.Errorf("browser: %s", e)
		}
	}
}
