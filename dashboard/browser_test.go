package dashboard

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
)

const (
	alertDevice = "water-namla-1" // Xã Chiềng Cọ in deploy/devices.csv
	alertWard   = "Xã Chiềng Cọ"
	alertText   = "Cảnh báo: mực nước cao"
	hostileText = `<b>x</b><script>document.title="pwned"</script>`
)

// TestWallRendersLiveReadingsInChromium loads the wall in a real browser and
// checks what it shows: the latest value per device and metric in its ward's
// card, Vietnamese text byte for byte, a value that only ever travelled over
// the websocket, stale devices marked, and data shown as text, never markup.
// A second run takes a 1920×1080 screenshot (kept in $IOC_SCREENSHOT_DIR if
// set).
func TestWallRendersLiveReadingsInChromium(t *testing.T) {
	browser := chromium(t)
	// The wall signs in as a video wall does: with a kiosk token (accounts
	// in memory for this test; access stays closed to anyone else).
	s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory"}}, kafkaconn.Config{}, chconn.Config{},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, kiosk, err := s.auth.CreateKiosk(ctx, "browser-test wall", auth.Principal{Name: "test"}, "")
	if err != nil {
		t.Fatal(err)
	}
	go s.hub.run(ctx, 50*time.Millisecond)

	now := time.Now()
	for _, r := range wallReadings(t, now) {
		s.hub.update(r)
	}
	rise := numReading("viettel", alertDevice, "water_level", alertWard, "m", 2.46, now.Add(time.Second))
	live := textReading("viettel", alertDevice, "alert", alertWard, alertText, now.Add(time.Second))

	// The page's first /api/latest is answered with a snapshot taken before
	// two changes: the water level rises before the page's websocket joins
	// (so the socket's snapshot is newer than the HTTP one, which must not
	// overwrite it), and the alert is raised after it joined, so its text can
	// only reach the page in a live "readings" frame.
	routes := s.routes()
	var held atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/latest" || !held.CompareAndSwap(false, true) {
			routes.ServeHTTP(w, r)
			return
		}
		old := httptest.NewRecorder()
		routes.ServeHTTP(old, r)
		s.hub.update(rise)
		if c := waitClient(s.hub, 20*time.Second); c != nil {
			s.hub.update(live)
			waitSent(s.hub, c, 5*time.Second)
		} else {
			t.Error("the page's websocket did not connect within 20s")
		}
		w.Header().Set("Content-Type", old.Header().Get("Content-Type"))
		_, _ = w.Write(old.Body.Bytes())
	}))
	defer srv.Close()

	dom, logs := runChromium(t, browser, "--window-size=1920,1080", "--dump-dom", srv.URL+"/kiosk?token="+kiosk)
	if !strings.Contains(dom, `id="wall"`) {
		t.Fatalf("chromium dumped no wall:\n%s\nbrowser log:\n%s", dom, logs)
	}
	if bad := pageErrors(logs); bad != "" {
		t.Errorf("the page logged errors:\n%s", bad)
	}

	for _, c := range []struct{ device, metric, want string }{
		{"aq-chieng-le", "pm25", "42.5"},
		{"aq-chieng-le", "temperature", "27.0"},
		{"light-hua-la-1", "on", "Bật"},
		{"light-hua-la-2", "on", "Tắt"},
		{alertDevice, "water_level", "2.5"},
		{alertDevice, "alert", alertText},
		{"ghost-01", "note", hostileText},
	} {
		got, ok := cellValue(dom, c.device, c.metric)
		if !ok {
			t.Errorf("no cell for device %s metric %s in the DOM", c.device, c.metric)
		} else if got != c.want {
			t.Errorf("device %s metric %s shows %q, want %q", c.device, c.metric, got, c.want)
		}
	}
	for device, ward := range map[string]string{
		"aq-chieng-le": "Phường Chiềng Lề", alertDevice: alertWard, "light-hua-la-1": "Xã Hua La", "ghost-01": "",
		"noise-nfd-01": "Phường Tô Hiệu", // sent decomposed (NFD)
	} {
		card := section(dom, `data-ward="`+ward+`"`, "</section>")
		if !strings.Contains(card, `data-device="`+device+`"`) {
			t.Errorf("device %s is not in the card of ward %q", device, ward)
		}
	}
	if !strings.Contains(dom, `<span class="ward-name">`+alertWard+`</span>`) {
		t.Errorf("ward name %q not rendered as written", alertWard)
	}
	if !strings.Contains(dom, "Thiết bị chưa đăng ký (unregistered)") {
		t.Error("no card for unregistered devices")
	}
	for device, stale := range map[string]bool{"rain-quyet-tam-9": true, "aq-chieng-le": false} {
		row := section(dom, `data-device="`+device+`"`, "</article>")
		marked := strings.Contains(row, `<span class="stale-label">stale</span>`) && slices.Contains(rowClasses(dom, device), "stale")
		if marked != stale {
			t.Errorf("device %s: marked stale %v, want %v:\n%s", device, marked, stale, row)
		}
	}
	if strings.Contains(dom, "<b>x</b>") || !strings.Contains(dom, "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("reading text was inserted as markup, not as text")
	}

	// Screenshot at the wall's resolution.
	dir := os.Getenv("IOC_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot, err := filepath.Abs(filepath.Join(dir, "wall.png"))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(shot)
	_, logs = runChromium(t, browser, "--screenshot="+shot, "--window-size=1920,1080", "--hide-scrollbars", srv.URL+"/kiosk?token="+kiosk)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v\nbrowser log:\n%s", err, logs)
	}
	if bad := pageErrors(logs); bad != "" {
		t.Errorf("the page logged errors while taking the screenshot:\n%s", bad)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if cfg.Width != 1920 || cfg.Height != 1080 {
		t.Errorf("screenshot is %dx%d, want 1920x1080", cfg.Width, cfg.Height)
	}
	t.Logf("screenshot: %s", shot)
}

// chromium finds the browser. Its absence fails the test: a wall that was
// never rendered has not been tested.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("IOC_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: this test renders the wall in a real browser. " +
		"Install it (Debian/Ubuntu: apt-get install chromium) or set IOC_CHROMIUM to a Chromium or Chrome binary.")
	return ""
}

// runChromium runs headless Chromium on a fresh profile and returns its
// standard output and its log. Virtual time lets the page's network and
// timers settle before the DOM is dumped or the screenshot taken.
func runChromium(t *testing.T, browser string, args ...string) (stdout, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
	}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	cmd.WaitDelay = 5 * time.Second // children may hold the pipes after a kill
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chromium did not finish within 60s; log:\n%s", errb.String())
		}
		t.Fatalf("chromium %s: %v; log:\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// pageErrors picks the page's console errors and CSP violations out of the
// browser log.
func pageErrors(log string) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if strings.Contains(line, "CONSOLE") && (strings.Contains(line, "Uncaught") ||
			strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused") ||
			strings.Contains(line, "violates")) {
			b.WriteString(line)
		}
	}
	return b.String()
}

var valueRE = regexp.MustCompile(`^[^>]*>(?:.|\n)*?<span class="value[^"]*"[^>]*>([^<]*)</span>`)

// cellValue is the text of the value of one (device, metric) cell in the
// dumped DOM, unescaped.
func cellValue(dom, device, metric string) (string, bool) {
	row := section(dom, `data-device="`+device+`"`, "</article>")
	cell := section(row, `data-metric="`+metric+`"`, "</div></div>")
	m := valueRE.FindStringSubmatch(cell)
	if m == nil {
		return "", false
	}
	return unescape(m[1]), true
}

// rowClasses is the class list of a device's row.
func rowClasses(dom, device string) []string {
	i := strings.Index(dom, `data-device="`+device+`"`)
	if i < 0 {
		return nil
	}
	j := strings.LastIndex(dom[:i], "<article")
	if j < 0 {
		return nil
	}
	m := regexp.MustCompile(`class="([^"]*)"`).FindStringSubmatch(dom[j:i])
	if m == nil {
		return nil
	}
	return strings.Fields(m[1])
}

// section is s from the first start to the following end.
func section(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j+len(end)]
	}
	return s
}

func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&nbsp;", "\u00a0", "&amp;", "&").Replace(s)
}

// waitClient polls until a websocket client has joined the hub.
func waitClient(h *hub, within time.Duration) *client {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h.mu.Lock()
		for c := range h.clients {
			h.mu.Unlock()
			return c
		}
		h.mu.Unlock()
	}
	return nil
}

// waitSent polls until the hub has flushed its pending changes and the
// client's writer has taken every queued frame.
func waitSent(h *hub, c *client, within time.Duration) {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h.mu.Lock()
		pending := len(h.pending)
		h.mu.Unlock()
		if pending == 0 && len(c.queue) == 0 {
			return
		}
	}
}

// wallReadings is a plausible wall: every device of deploy/devices.csv with
// the metrics of its type, plus the cases the test checks.
func wallReadings(t *testing.T, now time.Time) []event.Reading {
	t.Helper()
	reg, err := registry.Load(filepath.Join("..", "deploy", "devices.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Reading
	for i, d := range reg.Devices() {
		at := now.Add(-time.Duration(i%40) * time.Second)
		f := float64(i)
		num := func(metric, unit string, v float64) {
			out = append(out, numReading(d.Partner, d.ID, metric, d.Ward, unit, v, at))
		}
		switch d.Type {
		case "air_quality":
			num("pm25", "ug/m3", 20+f*0.7)
			num("pm10", "ug/m3", 35+f*1.1)
			num("temperature", "Cel", 24+f*0.1)
			num("humidity", "%RH", 70+f*0.3)
		case "rainfall":
			num("rainfall", "mm/h", f*0.2)
		case "traffic":
			num("vehicle_count", "xe/phút", 12+f)
			num("avg_speed", "km/h", 25+f*0.4)
		case "streetlight":
			on := boolReading(d.Partner, d.ID, "on", d.Ward, i%5 != 0, at)
			out = append(out, on)
			num("power", "W", 850+f*3)
		case "water_level":
			num("water_level", "m", 0.6+f*0.02)
			out = append(out, textReading(d.Partner, d.ID, "alert", d.Ward, "Bình thường", at))
		}
	}
	out = append(out,
		numReading("viettel", "aq-chieng-le", "pm25", "Phường Chiềng Lề", "ug/m3", 42.5, now),
		numReading("viettel", "aq-chieng-le", "temperature", "Phường Chiềng Lề", "Cel", 27, now),
		boolReading("viettel", "light-hua-la-1", "on", "Xã Hua La", true, now),
		boolReading("viettel", "light-hua-la-2", "on", "Xã Hua La", false, now),
		numReading("viettel", alertDevice, "water_level", alertWard, "m", 1.84, now),
		textReading("viettel", alertDevice, "alert", alertWard, "Bình thường", now),
		numReading("viettel", "rain-quyet-tam-9", "rainfall", "Phường Quyết Tâm", "mm/h", 3.2, now.Add(-10*time.Minute)),
		textReading("vnpt", "ghost-01", "note", "", hostileText, now),
		numReading("mobifone", "ghost-02", "pm25", "", "ug/m3", 18.25, now),
		numReading("vnpt", "noise-nfd-01", "noise", "Phường To\u0302 Hie\u0323\u0302u", "dB", 61, now),
	)
	return out
}

func baseReading(partner, device, metric, ward string, at time.Time) event.Reading {
	ms := at.UnixMilli()
	return event.Reading{
		ID: event.ReadingID(partner, device, metric, ms), Partner: partner, DeviceID: device, Metric: metric,
		ObservedMs: ms, ReceivedMs: ms, TimeFromSource: true, Ward: ward, Registered: ward != "",
	}
}

func numReading(partner, device, metric, ward, unit string, v float64, at time.Time) event.Reading {
	r := baseReading(partner, device, metric, ward, at)
	r.Kind, r.Value, r.Unit = event.KindNumber, v, unit
	return r
}

func textReading(partner, device, metric, ward, s string, at time.Time) event.Reading {
	r := baseReading(partner, device, metric, ward, at)
	r.Kind, r.String = event.KindString, s
	return r
}

func boolReading(partner, device, metric, ward string, b bool, at time.Time) event.Reading {
	r := baseReading(partner, device, metric, ward, at)
	r.Kind, r.Bool = event.KindBool, b
	return r
}
