package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
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

const pageDevice = "aq-chieng-le" // viettel, Phường Chiềng Lề in deploy/devices.csv

// TestDevicePageInChromium clicks a device on the wall's map and checks its
// page: registry data, current values, status history and alerts from the
// real ClickHouse, hourly charts over 24 h and 30 days read from the
// rollups (computed by the stream's rollup job from 30 days of readings,
// some delivered twice), the CSV of what a chart shows, and a live reading
// arriving over the device:<id> channel.
func TestDevicePageInChromium(t *testing.T) {
	ch, conn := rollupDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 30 days of pm25 and temperature every 30 minutes, the last day's
	// readings delivered twice, a status change and an alert.
	now := time.Now()
	start := now.Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	insert := func(from, to time.Time) {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, unit, observed_at, observed_ms, received_at, received_ms, ward, registered)")
		if err != nil {
			t.Fatal(err)
		}
		for at := from; at.Before(to); at = at.Add(30 * time.Minute) {
			ms := at.UnixMilli()
			h := float64(at.In(event.Location).Hour())
			for _, m := range []struct {
				name, unit string
				v          float64
			}{{"pm25", "ug/m3", 20 + h + float64(at.YearDay()%7)*3}, {"temperature", "°C", 18 + h/2}} {
				if err := b.Append(event.ReadingID("viettel", pageDevice, m.name, ms), "viettel", pageDevice, m.name, int8(1), m.v, m.unit,
					at, ms, at, ms, "Phường Chiềng Lề", uint8(1)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	insert(start, now)
	insert(start.Add(29*24*time.Hour), now) // the last day redelivered
	seedDeviceHistory(ctx, t, conn, ch.Database, now.Add(-50*time.Hour), now.Add(-5*24*time.Hour), "PM2.5 vượt ngưỡng: 88 µg/m³ — Trạm quan trắc không khí Chiềng Lề")
	job := rollup.New(rollup.Config{}, ch, log, nil)
	if res, err := job.Once(ctx, conn); err != nil || res.Closed < 30*24 {
		t.Fatalf("rollups: %+v %v, want the 30 days computed", res, err)
	}

	// The wall, reading this database.
	s, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond, Auth: auth.Config{Store: "memory", DevOpen: true}},
		kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}}, ch, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(filepath.Join("..", "deploy", "devices.csv"))
	if err != nil {
		t.Fatal(err)
	}
	s.wall.setRegistry(reg.Devices(), "test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes()}
	go func() { _ = srv.Serve(ln) }()
	wctx, wcancel := context.WithCancel(context.Background())
	go runWallLoop(wctx, s)
	defer func() { wcancel(); s.v2.closeAll("test over"); srv.Close() }()
	fillWall(t, s, now)
	addr := ln.Addr().String()

	br := startBrowser(t, 1600, 1400)
	br.navigate("http://" + addr + "/")
	br.waitJS("the wall is live", `document.getElementById('conn').classList.contains('live') && document.querySelectorAll('#map .dev').length === 65`, 30*time.Second)

	// Click the device's dot with the mouse, where it is drawn.
	var at struct{ X, Y float64 }
	br.eval(`(() => { const r = document.querySelector('#map .dev[data-device="`+pageDevice+`"]').getBoundingClientRect();
		return { X: r.left + r.width / 2, Y: r.top + r.height / 2 }; })()`, &at)
	var onTop string
	br.eval(fmt.Sprintf(`(() => { const e = document.elementFromPoint(%f, %f); return e ? (e.dataset.device || e.tagName) : ''; })()`, at.X, at.Y), &onTop)
	if onTop != pageDevice {
		t.Fatalf("the dot of %s is covered by %q at %v", pageDevice, onTop, at)
	}
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		br.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1})
	}
	br.waitJS("the device page opens", `location.pathname.endsWith('/device.html') && new URLSearchParams(location.search).get('id') === '`+pageDevice+`' &&
		window.__device && window.__device.ready`, 20*time.Second)

	var page struct {
		Title, Registry, Status string
		Values                  []string
		History, Alerts         []string
	}
	br.eval(`({ Title: document.getElementById('title').textContent, Registry: document.getElementById('registry').textContent,
		Status: document.getElementById('status').textContent,
		Values: [...document.querySelectorAll('#values tr')].map(r => r.textContent),
		History: [...document.querySelectorAll('#status-history li')].map(r => r.textContent),
		Alerts: [...document.querySelectorAll('#alerts li')].map(r => r.textContent) })`, &page)
	if page.Title != "Trạm quan trắc không khí Chiềng Lề" || !strings.Contains(page.Registry, "Viettel") || !strings.Contains(page.Registry, "Phường Chiềng Lề") {
		t.Errorf("identity: %q / %q", page.Title, page.Registry)
	}
	if !strings.HasPrefix(page.Status, "Hoạt động") {
		t.Errorf("status badge %q, want online (Hoạt động)", page.Status)
	}
	if len(page.Values) != 2 || !strings.Contains(strings.Join(page.Values, "|"), "pm25") || !strings.Contains(strings.Join(page.Values, "|"), "giây trước") {
		t.Errorf("current values: %q, want pm25 and vn_aqi with their age", page.Values)
	}
	if len(page.History) != 2 || !strings.Contains(page.History[0], "Hoạt động") || !strings.Contains(page.History[1], "Mất kết nối") {
		t.Errorf("status history: %q", page.History)
	}
	if len(page.Alerts) != 1 || !strings.Contains(page.Alerts[0], "PM2.5 vượt ngưỡng") || !strings.Contains(page.Alerts[0], "Lò Văn Hùng") {
		t.Errorf("alerts: %q", page.Alerts)
	}

	type chartInfo struct {
		Metric string
		Points int
		Drawn  bool
		CSV    string
	}
	charts := func() map[string]chartInfo {
		var cs []chartInfo
		br.eval(`window.__device.charts()`, &cs)
		out := map[string]chartInfo{}
		for _, c := range cs {
			out[c.Metric] = c
		}
		return out
	}
	// 24 h: every hour of the last day, the current one included.
	br.waitJS("the 24 h charts are drawn", `window.__device.charts().length === 3 && window.__device.charts().filter(c => c.drawn && c.points >= 24).length === 2`, 15*time.Second)
	c24 := charts()
	if c24["pm25"].Points < 24 || c24["pm25"].Points > 25 || c24["temperature"].Points < 24 {
		t.Errorf("24 h charts: %+v", c24)
	}
	// One series answer: the redelivered day counted once (2 readings an hour).
	var series struct {
		Source          string
		RollupThroughMs int64 `json:"rollup_through_ms"`
		Points          [][6]float64
	}
	br.eval(`fetch('api/device/`+pageDevice+`/series?metric=pm25&range=24h').then(r => r.json()).then(s => ({ Source: s.source, rollup_through_ms: s.rollup_through_ms, Points: s.points }))`, &series)
	if series.Source != "rollups" || series.RollupThroughMs != now.Truncate(time.Hour).UnixMilli() {
		t.Errorf("series source %q through %d, want the rollups through the current hour %d", series.Source, series.RollupThroughMs, now.Truncate(time.Hour).UnixMilli())
	}
	for _, p := range series.Points[:len(series.Points)-1] {
		if p[1] != 2 {
			t.Errorf("hour %s counts %v readings, want 2 (one every 30 minutes, redelivered ones once)", time.UnixMilli(int64(p[0])), p[1])
			break
		}
	}

	time.Sleep(300 * time.Millisecond) // a moment for the charts to paint
	br.screenshot(filepath.Join(screenshotDir(t), "device-page-24h.png"))

	// 30 days from the rollups, and its CSV.
	br.eval(`document.querySelector('#ranges button[data-range="30d"]').click()`, nil)
	br.waitJS("the 30-day charts", `window.__device.range() === '30d' && window.__device.charts().filter(c => c.drawn && c.points >= 700).length === 2`, 20*time.Second)
	c30 := charts()
	if !strings.Contains(c30["pm25"].CSV, "range=30d") || !strings.Contains(c30["pm25"].CSV, "format=csv") {
		t.Errorf("CSV link %q", c30["pm25"].CSV)
	}
	var csvText string
	br.eval(`fetch(window.__device.charts().find(c => c.metric === 'pm25').csv).then(r => r.text())`, &csvText)
	lines := strings.Split(strings.TrimSpace(csvText), "\n")
	if lines[0] != "hour_start,device_id,metric,unit,readings,min,mean,max,last" || len(lines)-1 != c30["pm25"].Points {
		t.Errorf("CSV: %d lines for %d points; header %q", len(lines), c30["pm25"].Points, lines[0])
	}

	// A live reading reaches the values and the chart's current hour.
	br.waitJS("subscribed to the device channel", `document.getElementById('conn').classList.contains('live')`, 10*time.Second)
	live := time.Now()
	s.wall.reading(&event.Reading{Partner: "viettel", DeviceID: pageDevice, Metric: "pm25", Kind: event.KindNumber, Value: 187.5, Unit: "ug/m3",
		ObservedMs: live.UnixMilli(), ReceivedMs: live.UnixMilli(), Ward: "Phường Chiềng Lề", Registered: true})
	br.waitJS("the live value", `[...document.querySelectorAll('#values tr')].some(r => r.dataset.metric === 'pm25' && r.textContent.includes('188'))`, 10*time.Second)
	br.waitJS("the live reading in the chart's current hour", `window.__device.lastPoint('pm25')[4] === 187.5 && window.__device.lastPoint('pm25')[0] === `+
		fmt.Sprint(live.Truncate(time.Hour).UnixMilli()), 10*time.Second)

	time.Sleep(500 * time.Millisecond) // a moment for the charts to paint
	shot := filepath.Join(screenshotDir(t), "device-page-30d.png")
	br.screenshot(shot)
	t.Logf("screenshot: %s", shot)
	if errs := br.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}

	// Back on the wall, an alert on the ticker opens its device's page.
	br.eval(`document.getElementById('back').click()`, nil)
	br.waitJS("the wall again", `document.querySelector('#alerts .alert[data-alert="a-water"]') !== null`, 20*time.Second)
	br.eval(`document.querySelector('#alerts .alert[data-alert="a-water"] .msg').click()`, nil)
	br.waitJS("the alert's device page", `location.pathname.endsWith('/device.html') && new URLSearchParams(location.search).get('id') === '`+alertDevice+`' &&
		window.__device && window.__device.ready && document.getElementById('title').textContent.includes('Nậm La')`, 20*time.Second)
}
