package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
)

const (
	alertDevice = "water-namla-1" // Xã Chiềng Cọ in deploy/devices.csv
	hostileText = `<b>x</b><script>document.title="pwned"</script>`
)

// wallService is a dashboard whose wall model the test feeds directly (no
// stream, no ClickHouse); acknowledgements go to the real Kafka of `make
// test` under a topic prefix of their own.
func wallService(t *testing.T, kc kafkaconn.Config, ln net.Listener) (*Service, *http.Server) {
	t.Helper()
	s, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond,
		Auth: auth.Config{Store: "memory", DevOpen: true}}, kc, chconn.Config{Addr: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(filepath.Join("..", "deploy", "devices.csv"))
	if err != nil {
		t.Fatal(err)
	}
	s.wall.setRegistry(reg.Devices(), "test")
	srv := &http.Server{Handler: s.routes()}
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	go runWallLoop(ctx, s)
	t.Cleanup(func() { cancel(); s.v2.closeAll("test over"); srv.Close() })
	return s, srv
}

// fillWall gives every registered device plausible readings and statuses,
// the trends of the last 15 minutes, and two alerts.
func fillWall(t *testing.T, s *Service, now time.Time) {
	reg, _ := registry.Load(filepath.Join("..", "deploy", "devices.csv"))
	for i, d := range reg.Devices() {
		at := now.Add(-time.Duration(i%30) * time.Second)
		f := float64(i)
		read := func(metric, unit string, v float64, derived bool) {
			r := &event.Reading{Partner: d.Partner, DeviceID: d.ID, Metric: metric, Kind: event.KindNumber, Value: v, Unit: unit,
				ObservedMs: at.UnixMilli(), ReceivedMs: at.UnixMilli(), Ward: d.Ward, Registered: true, Derived: derived}
			if derived {
				r.String = "pm25"
			}
			s.wall.reading(r)
		}
		status := event.StatusOnline
		switch d.Type {
		case "air_quality":
			read("pm25", "ug/m3", 20+f, false)
			read(event.MetricVNAQI, "VN_AQI", []float64{38, 72, 95, 118, 64, 156, 88, 42, 210, 77, 131, 59}[(i/5)%12], true)
		case "rainfall":
			read("rain", "mm/h", []float64{0.4, 2.5, 6.8, 12.2, 1.1, 0}[i%6], false)
		case "traffic":
			read("vehicles", "1/min", 40+f*2, false)
			read("speed", "km/h", 32+f/4, false)
		case "streetlight":
			b := i%7 != 0
			s.wall.reading(&event.Reading{Partner: d.Partner, DeviceID: d.ID, Metric: "on", Kind: event.KindBool, Bool: b,
				ObservedMs: at.UnixMilli(), ReceivedMs: at.UnixMilli(), Registered: true})
			s.wall.reading(&event.Reading{Partner: d.Partner, DeviceID: d.ID, Metric: "fault", Kind: event.KindBool, Bool: i == 19,
				ObservedMs: at.UnixMilli(), ReceivedMs: at.UnixMilli(), Registered: true})
		case "water_level":
			read("level", "m", []float64{2.14, 1.32, 0.94, 1.61, 0.78}[(i-60+5)%5], false)
		}
		if d.ID == "light-chieng-xom-2" || d.ID == "rain-hua-la" {
			status = event.StatusOffline
		}
		s.wall.status(&event.DeviceStatus{Kind: event.SubjectDevice, DeviceID: d.ID, Partner: d.Partner, Status: status, AtMs: at.UnixMilli()})
	}
	s.wall.status(&event.DeviceStatus{Kind: event.SubjectFeed, Partner: "viettel", Status: event.StatusLive, AtMs: now.UnixMilli()})
	s.wall.status(&event.DeviceStatus{Kind: event.SubjectFeed, Partner: "vnpt", Status: event.StatusLive, AtMs: now.UnixMilli()})
	// The ticker: an unacknowledged water-level alert and an offline device.
	s.wall.alert(testAlert("a-water", alertDevice, "water_level", event.SeverityAlert, "Mực nước Báo động 2: 2.14 m — Trạm đo mực nước suối Nậm La 1 — Xã Chiềng Cọ", now.Add(-4*time.Minute)))
	s.wall.alert(testAlert("a-off", "light-chieng-xom-2", "device_offline", event.SeverityWarning, "Thiết bị mất kết nối: Tủ điều khiển chiếu sáng Chiềng Xôm 2 — Xã Chiềng Xôm", now.Add(-9*time.Minute)))
	// An unregistered device with hostile text: shown as text, never markup.
	s.wall.reading(&event.Reading{Partner: "vnpt", DeviceID: "ghost-01", Metric: "note", Kind: event.KindString, String: hostileText,
		ObservedMs: now.UnixMilli(), ReceivedMs: now.UnixMilli()})
	s.wall.setPipeline(func(p *pipelineLive) {
		p.CHUp, p.CHMs, p.StoredMs = true, 4, now.Add(-1500*time.Millisecond).UnixMilli()
	})
	// Trend minutes of the last quarter hour.
	for m := 15; m >= 0; m-- {
		b := now.Truncate(time.Minute).Add(-time.Duration(m) * time.Minute).UnixMilli()
		fm := float64(m)
		s.wall.seedTrend("aqi", b, 12*(95+3*fm), 160+fm, 12)
		s.wall.seedTrend("water", b, 5*(1.3-0.01*fm), 2.14-0.01*fm, 5)
		s.wall.seedTrend("rain", b, 12*(3.2+0.1*fm), 12.2, 12)
		s.wall.seedTrend("traffic", b, 12*(70+fm), 140, 12)
	}
}

func testAlert(id, device, rule, sev, msg string, opened time.Time) *event.AlertEvent {
	return &event.AlertEvent{ID: id + "-1", AlertID: id, Rule: rule, Kind: rule, Severity: sev, State: event.AlertOpen, Seq: 1,
		Subject: device, DeviceID: device, Partner: "viettel", Message: msg, OpenedMs: opened.UnixMilli(), AtMs: opened.UnixMilli()}
}

// TestWallInChromium loads the wall in headless Chromium and checks what an
// operator sees: the map with every registered device coloured by state,
// VN_AQI tiles in their category colours, water levels against the stages,
// values changing as readings arrive, an alert that appears and is
// acknowledged through the real endpoint and Kafka, no console error or CSP
// violation, and, after the dashboard restarts, the page reconnecting and
// resuming. Screenshots at 1920×1080 (and 3840×2160) go to
// $IOC_SCREENSHOT_DIR (a temporary folder if unset).
func TestWallInChromium(t *testing.T) {
	brokers := os.Getenv("IOC_KAFKA_BROKERS")
	if brokers == "" {
		brokers = "127.0.0.1:9092"
	}
	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), TopicPrefix: fmt.Sprintf("walltest%d.", time.Now().UnixNano()%1e9), Partitions: 1}
	kc.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kc.EnsureTopics(ctx, event.TopicAlertCommands); err != nil {
		t.Fatalf("this test acknowledges an alert through Kafka: %v (run it with `make test`, which starts the services)", err)
	}
	defer func() {
		_, _ = kc.DeleteTopicsWithPrefix(context.Background()) // every topic of the prefix, also those the roles created
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	s, srv := wallService(t, kc, ln)
	now := time.Now()
	fillWall(t, s, now)

	b := startBrowser(t, 1920, 1080)
	b.navigate("http://" + addr + "/")
	b.waitJS("the wall is live", `document.getElementById('conn').classList.contains('live')`, 30*time.Second)
	b.waitJS("every AQI tile has a value", `[...document.querySelectorAll('.aqi .v')].length === 12 && [...document.querySelectorAll('.aqi .v')].every(e => /^\d+$/.test(e.textContent))`, 15*time.Second)

	// The map: every registered device, coloured by state.
	var mapState struct {
		Dots, Wards int
		Classes     map[string]int
		Offline     []string
	}
	b.eval(`(() => { const dots = [...document.querySelectorAll('#map .dev')]; const c = {};
		dots.forEach(d => { const k = d.getAttribute('class').split(' ')[1]; c[k] = (c[k] || 0) + 1; });
		return { Dots: dots.length, Wards: document.querySelectorAll('#map .ward').length, Classes: c,
			Offline: dots.filter(d => d.classList.contains('offline')).map(d => d.dataset.device) }; })()`, &mapState)
	if mapState.Dots != 65 || mapState.Wards != 12 {
		t.Errorf("map: %d devices in %d wards, want 65 in 12", mapState.Dots, mapState.Wards)
	}
	if mapState.Classes["alert"] < 1 || mapState.Classes["warning"]+mapState.Classes["offline"] < 1 || mapState.Classes["ok"] < 40 {
		t.Errorf("map states: %v", mapState.Classes)
	}
	if strings.Join(mapState.Offline, ",") != "light-chieng-xom-2,rain-hua-la" {
		t.Errorf("offline devices on the map: %v", mapState.Offline)
	}
	// VN_AQI in Decision 1459 colours: 210 is Rất xấu (purple, class c5).
	var aqi []string
	b.eval(`[...document.querySelectorAll('.aqi')].map(e => e.className + ' ' + e.querySelector('.v').textContent + ' ' + e.querySelector('.cat').textContent)`, &aqi)
	joined := strings.Join(aqi, "|")
	for _, want := range []string{"aqi c5 210 Rất xấu", "aqi c4 156 Xấu", "aqi c1 38 Tốt", "aqi c3 118 Kém", "aqi c2 72 Trung bình"} {
		if !strings.Contains(joined, want) {
			t.Errorf("AQI tiles lack %q: %s", want, joined)
		}
	}
	// Water level: namla-1 at 2.14 m is above Báo động 2.
	b.waitJS("water stage", `document.querySelector('.water[data-device="water-namla-1"]').className.includes('s2')`, 5*time.Second)

	// Values change as readings arrive.
	s.wall.reading(&event.Reading{Partner: "viettel", DeviceID: alertDevice, Metric: "level", Kind: event.KindNumber, Value: 2.61, Unit: "m",
		ObservedMs: time.Now().UnixMilli(), ReceivedMs: time.Now().UnixMilli(), Registered: true})
	b.waitJS("the new water level", `document.querySelector('.water[data-device="water-namla-1"] .v').textContent === '2.61' &&
		document.querySelector('.water[data-device="water-namla-1"]').className.includes('s3')`, 10*time.Second)

	// Hostile text stays text.
	var title string
	b.eval(`document.title`, &title)
	if strings.Contains(title, "pwned") {
		t.Error("a reading's text ran as script")
	}

	// An alert appears on the ticker and is acknowledged by an operator.
	s.wall.alert(testAlert("a-aqi", "aq-chieng-den", "aqi_unhealthy", event.SeverityCritical,
		"VN_AQI 210 (Rất xấu) — Trạm quan trắc không khí Chiềng Đen — Xã Chiềng Đen", time.Now()))
	b.waitJS("the new alert on the ticker", `[...document.querySelectorAll('#alerts .alert')].some(e => e.dataset.alert === 'a-aqi' && !e.hidden)`, 10*time.Second)
	b.eval(`document.querySelector('#alerts .alert[data-alert="a-aqi"] .ack').click()`, nil)
	b.waitJS("the acknowledgement form", `!document.getElementById('ack-form').hidden`, 5*time.Second)
	b.eval(`document.getElementById('ack-operator').value = 'Lò Thị Mai';
		document.getElementById('ack-note').value = 'Đã báo Phòng TN-MT, khuyến cáo người dân hạn chế ra ngoài';
		document.getElementById('ack-submit').click()`, nil)
	b.waitJS("the form closes (202 Accepted)", `document.getElementById('ack-form').hidden`, 10*time.Second)
	cmd := readCommand(t, kc, "a-aqi")
	if cmd.Operator != "Lò Thị Mai" || !strings.HasPrefix(cmd.Note, "Đã báo Phòng TN-MT") || cmd.Action != "ack" {
		t.Errorf("acknowledgement on Kafka: %+v", cmd)
	}
	// The stream's monitor answers with the acknowledged transition.
	acked := testAlert("a-aqi", "aq-chieng-den", "aqi_unhealthy", event.SeverityCritical, "VN_AQI 210 (Rất xấu) — Trạm quan trắc không khí Chiềng Đen — Xã Chiềng Đen", time.Now())
	acked.State, acked.Acked, acked.Seq, acked.Operator, acked.Note = event.AlertAcknowledged, true, 2, cmd.Operator, cmd.Note
	s.wall.alert(acked)
	b.waitJS("acknowledged on the ticker", `(() => { const e = document.querySelector('#alerts .alert[data-alert="a-aqi"]');
		return e && e.classList.contains('acked') && e.querySelector('.meta').textContent.includes('Lò Thị Mai') && e.querySelector('.ack').hidden; })()`, 10*time.Second)

	b.waitJS("charts drawn and the clock running", drawn, 10*time.Second)
	dir := screenshotDir(t)
	shot := filepath.Join(dir, "wall-1920x1080.png")
	b.screenshot(shot)
	checkPNG(t, shot, 1920, 1080)
	t.Logf("screenshot: %s", shot)

	// The dashboard restarts (a new epoch); the page reconnects and shows
	// what changed meanwhile, with no stale banner.
	var epochBefore string
	b.eval(`window.__wall ? window.__wall.epoch() : ''`, &epochBefore)
	s.v2.closeAll("server shutting down")
	srv.Close()
	b.waitJS("the page sees the dashboard gone", `!document.getElementById('conn').classList.contains('live')`, 10*time.Second)
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	s2, _ := wallService(t, kc, ln2)
	fillWall(t, s2, time.Now())
	s2.wall.reading(&event.Reading{Partner: "viettel", DeviceID: "water-namla-2", Metric: "level", Kind: event.KindNumber, Value: 1.77, Unit: "m",
		ObservedMs: time.Now().UnixMilli(), ReceivedMs: time.Now().UnixMilli(), Registered: true})
	b.waitJS("reconnected to the restarted dashboard", `document.getElementById('conn').classList.contains('live') &&
		document.querySelector('.water[data-device="water-namla-2"] .v').textContent === '1.77'`, 40*time.Second)
	var epochAfter string
	var banner bool
	b.eval(`window.__wall.epoch()`, &epochAfter)
	b.eval(`document.getElementById('stale-banner').hidden`, &banner)
	if epochAfter == "" || epochAfter == epochBefore || !banner {
		t.Errorf("after the restart: epoch %q (was %q), stale banner hidden %v", epochAfter, epochBefore, banner)
	}
	// The water chart continues: one point per minute, no minute twice.
	var pts []float64
	b.eval(`window.__wall.points('water')`, &pts)
	for i := 1; i < len(pts); i++ {
		if pts[i] <= pts[i-1] {
			t.Fatalf("chart minutes not strictly increasing at %d: %v", i, pts)
		}
	}
	if len(pts) < 15 {
		t.Errorf("water chart has %d minutes after the restart, want the live window", len(pts))
	}

	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}

	// The same wall at 3840×2160 (4K video wall).
	b4 := startBrowser(t, 3840, 2160)
	b4.navigate("http://" + addr + "/")
	b4.waitJS("4K wall live", `document.getElementById('conn').classList.contains('live') && document.querySelectorAll('#map .dev').length === 65`, 30*time.Second)
	b4.waitJS("4K charts drawn and the clock running", drawn, 10*time.Second)
	shot4 := filepath.Join(dir, "wall-3840x2160.png")
	b4.screenshot(shot4)
	checkPNG(t, shot4, 3840, 2160)
	if errs := b4.errors(); len(errs) > 0 {
		t.Errorf("the 4K page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// drawn holds once every chart has drawn and the clock shows the time:
// what a screenshot should show.
const drawn = `document.getElementById('clock-time').textContent !== '--:--:--' &&
	[...document.querySelectorAll('.chart .plot')].every(p => p.childElementCount > 0)`

func readCommand(t *testing.T, kc kafkaconn.Config, alert string) event.AlertCommand {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: kc.Topic(event.TopicAlertCommands), Partition: 0, MinBytes: 1, MaxBytes: 1 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading the acknowledgement from Kafka: %v", err)
		}
		var c event.AlertCommand
		if json.Unmarshal(m.Value, &c) == nil && c.AlertID == alert {
			return c
		}
	}
}

func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != w || cfg.Height != h {
		t.Errorf("screenshot %s: %dx%d (%v), want %dx%d", path, cfg.Width, cfg.Height, err, w, h)
	}
}
