package dashboard

// The newcomer's path (issue 13): fresh services, the real `ioc run
// -simulate` as `make run` runs it, and what a browser shows 30 s and 60 s
// after the wall first answers. Checked from the rendered pages, not from
// the APIs: no registered device ever listed as unregistered, the partner
// cards counting online devices as the map does, and within 60 s every
// panel of the wall and every tile of the KPI page with a figure. The
// screenshots at 60 s are the README's pictures (docs/img/).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/procout"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// freePort is a loopback port below Linux's ephemeral range that nothing
// listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

// wallView is what the wall shows, read from its DOM.
type wallView struct {
	Live          bool
	Dots          int
	MapCount      string
	MapOnline     map[string]int // partner -> dots ok/warning/alert
	MapTotal      map[string]int
	Cards         map[string]string // partner -> the card's "online/total" text
	UnregVisible  bool
	UnregText     string
	Registered    []string // every device id on the map
	NoData        []string // texts that say there is no data
	AQI, Water    []string // values shown
	Tiles         map[string]string
	ChartPoints   map[string]int
	ChartSpanMin  map[string]float64
	ChartGapMin   map[string]float64 // the longest stretch without a point
	Alerts        int
	StaleBanner   bool
	ConnText      string
	BodyTextStart string
}

const readWall = `(() => {
  const q = (s) => [...document.querySelectorAll(s)];
  const v = { Live: document.getElementById('conn').classList.contains('live'), Dots: q('#map .dev').length,
    MapCount: document.getElementById('map-count').textContent, MapOnline: {}, MapTotal: {}, Cards: {},
    UnregVisible: !document.getElementById('unreg').hidden, UnregText: document.getElementById('unreg-list').textContent,
    Registered: q('#map .dev').map((d) => d.dataset.device), NoData: [],
    AQI: q('.aqi .v').map((e) => e.textContent), Water: q('.water .v').map((e) => e.textContent), Tiles: {},
    ChartPoints: {}, ChartSpanMin: {}, ChartGapMin: {}, Alerts: q('#alerts .alert:not([hidden])').length,
    StaleBanner: !document.getElementById('stale-banner').hidden, ConnText: document.getElementById('conn-text').textContent,
    BodyTextStart: document.body.innerText.slice(0, 600) };
  for (const d of q('#map .dev')) {
    const p = d.dataset.partner, s = d.getAttribute('class').split(' ')[1];
    v.MapTotal[p] = (v.MapTotal[p] || 0) + 1;
    if (s === 'ok' || s === 'warning' || s === 'alert') v.MapOnline[p] = (v.MapOnline[p] || 0) + 1;
  }
  for (const f of q('#feeds .feed')) {
    const b = [...f.querySelectorAll('.nums b')].map((e) => e.textContent).find((t) => /^\d+\/\d+$/.test(t));
    v.Cards[f.dataset.partner] = b || '';
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('[hidden]') || el.closest('#legend')) continue;
    if (/Chưa có dữ liệu|no data yet/i.test(n.textContent)) v.NoData.push((el.closest('[data-device]') || el).dataset.device || el.className || el.tagName);
  }
  for (const id of ['tile-rain', 'tile-traffic', 'tile-lights']) v.Tiles[id] = document.querySelector('#' + id + ' .v').textContent;
  for (const id of ['aqi', 'water', 'rain', 'traffic']) {
    const pts = window.__wall.points(id);
    v.ChartPoints[id] = pts.length;
    v.ChartSpanMin[id] = pts.length ? (pts[pts.length - 1] - pts[0]) / 60000 : 0;
    let gap = 0;
    for (let i = 1; i < pts.length; i++) gap = Math.max(gap, (pts[i] - pts[i - 1]) / 60000);
    v.ChartGapMin[id] = gap;
  }
  return v;
})()`

// kpiView is what the KPI page shows.
type kpiView struct {
	Tiles      int
	Values     map[string]string // tile id -> data-value ('' when no figure)
	Shown      map[string]string // tile id -> the figure's text
	EmptyShown bool
	Live       bool
}

const readKPI = `(() => {
  const v = { Tiles: 0, Values: {}, Shown: {}, EmptyShown: !document.getElementById('empty').hidden,
    Live: document.getElementById('conn').classList.contains('live') };
  for (const t of document.querySelectorAll('#tiles .tile')) {
    v.Tiles++;
    const val = t.querySelector('.value');
    v.Values[t.dataset.id] = val ? val.dataset.value : '';
    v.Shown[t.dataset.id] = val ? val.textContent : '';
  }
  return v;
})()`

// invariants hold at every moment: no registered device listed as
// unregistered, and the partner cards count what the map shows.
func (v wallView) invariants() []string {
	var bad []string
	if v.UnregVisible {
		for _, id := range v.Registered {
			if strings.Contains(" "+strings.ReplaceAll(v.UnregText, ",", " ")+" ", " "+id+" ") {
				bad = append(bad, fmt.Sprintf("registered device %s listed as unregistered (%q)", id, v.UnregText))
			}
		}
	}
	for p, card := range v.Cards {
		if want := fmt.Sprintf("%d/%d", v.MapOnline[p], v.MapTotal[p]); v.MapTotal[p] > 0 && card != want {
			bad = append(bad, fmt.Sprintf("partner card %s says %q online, the map shows %s", p, card, want))
		}
	}
	return bad
}

// complete lists what the wall still lacks.
func (v wallView) complete() []string {
	var bad []string
	if !v.Live || v.Dots != 65 || len(v.Cards) < 2 {
		bad = append(bad, fmt.Sprintf("live %v, %d devices on the map, %d partner cards", v.Live, v.Dots, len(v.Cards)))
	}
	if len(v.NoData) > 0 {
		bad = append(bad, fmt.Sprintf("'no data yet' shown on %v", v.NoData))
	}
	for _, x := range append(append([]string(nil), v.AQI...), v.Water...) {
		if x == "—" || x == "" {
			bad = append(bad, fmt.Sprintf("a VN_AQI or water tile without a value (AQI %v, water %v)", v.AQI, v.Water))
			break
		}
	}
	for id, x := range v.Tiles {
		if x == "—" || x == "" {
			bad = append(bad, "tile "+id+" without a figure")
		}
	}
	for id, n := range v.ChartPoints {
		// The 6-hour trend charts: hours of history (the backfill), not only the live minutes.
		if n < 60 || v.ChartSpanMin[id] < 5*60 {
			bad = append(bad, fmt.Sprintf("trend %s has %d minutes over %.0f min, want about 6 hours", id, n, v.ChartSpanMin[id]))
		}
		// The backfill gives a point every 2 minutes: a longer gap is history that stopped short of
		// the live minutes. Not for VN_AQI: stream's monitor skips a reading that reaches it after a
		// newer one of its station, and ingest's parallel producers can reorder a burst such as the
		// backfill, so the derived series may miss a stretch.
		if id != "aqi" && v.ChartGapMin[id] > 15 {
			bad = append(bad, fmt.Sprintf("trend %s has a gap of %.0f min", id, v.ChartGapMin[id]))
		}
	}
	return bad
}

func (k kpiView) complete() []string {
	var bad []string
	if k.EmptyShown || k.Tiles < 16 {
		bad = append(bad, fmt.Sprintf("%d KPI tiles, 'no figures yet' shown: %v", k.Tiles, k.EmptyShown))
	}
	for id, v := range k.Values {
		if v == "" {
			bad = append(bad, "KPI tile "+id+" without a figure")
		}
	}
	// Three of the H1-2021 report's figures (e2e/kpi_test.go checks them all).
	for id, want := range map[string]string{"reform_plan.done": "51,4%", "procedures.published": "186", "budget.vs_province": "88,5%"} {
		if got := strings.ReplaceAll(strings.ReplaceAll(k.Shown[id], " ", ""), ".", ","); got != want && k.Shown[id] != want {
			bad = append(bad, fmt.Sprintf("KPI tile %s shows %q, the report says %s", id, k.Shown[id], want))
		}
	}
	return bad
}

func TestFirstMinutesInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline for over a minute")
	}
	brokers, chAddr := os.Getenv("IOC_KAFKA_BROKERS"), os.Getenv("IOC_CLICKHOUSE_ADDR")
	if brokers == "" || chAddr == "" {
		t.Skip("IOC_KAFKA_BROKERS and IOC_CLICKHOUSE_ADDR not set: runs against the local services (make test)")
	}
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Skip("mosquitto not installed (deploy/local/services.sh up installs it)")
	}
	chromium(t) // fails the test when missing
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	run := fmt.Sprintf("%d%03d", time.Now().Unix()%1000000, rand.IntN(1000))

	// Fresh services: a Mosquitto of its own (the simulator's readings reach
	// nobody else's ingest), fresh Kafka topics and a fresh database on the
	// local Kafka and ClickHouse.
	mqttPort := freePort(t)
	services := filepath.Join(repo, "deploy", "local", "services.sh")
	svcEnv := append(os.Environ(), "IOC_LOCAL_DIR="+filepath.Join(tmp, "local"), fmt.Sprintf("IOC_MQTT_PORT=%d", mqttPort))
	sh := func(args ...string) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{services}, args...)...)
		cmd.Env = svcEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("services.sh %v: %v\n%s", args, err, out)
		}
	}
	sh("up", "mosquitto")
	t.Cleanup(func() { sh("down", "mosquitto") })

	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), TopicPrefix: "first" + run + "."}
	kc.Defaults()
	ch := chconn.Config{Addr: strings.Split(chAddr, ","), Database: "ioc_first_" + run}
	ch.Defaults()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = kc.DeleteTopicsWithPrefix(ctx)
		if conn, err := ch.Open(context.Background()); err == nil {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ch.Database)
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ch.Database+"_security")
			conn.Close()
		}
	})

	// deploy/ioc.yaml, as `make run` uses it, with this run's names and ports.
	var cfg map[string]any
	raw, err := os.ReadFile(filepath.Join(repo, "deploy", "ioc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	section := func(name string) map[string]any {
		m, _ := cfg[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			cfg[name] = m
		}
		return m
	}
	wallPort, opsPort := freePort(t), freePort(t)
	section("kafka")["topic_prefix"] = kc.TopicPrefix
	section("clickhouse")["database"] = ch.Database
	// The roles' own accounts may use the database `ioc` only (users.xml of
	// ClickHouse 18.16 lists databases by name): this run's database is
	// reached with the administrative account (deploy's
	// TestRunConnectsEachRoleWithItsOwnAccount covers the accounts).
	delete(section("clickhouse"), "accounts")
	section("stream")["group_id"] = "first-stream-" + run
	section("feeds")["group_id"] = "first-feeds-" + run
	section("dashboard")["listen"] = fmt.Sprintf("127.0.0.1:%d", wallPort)
	section("ops")["listen"] = fmt.Sprintf("127.0.0.1:%d", opsPort)
	out, _ := yaml.Marshal(cfg)
	cfgFile := filepath.Join(tmp, "ioc.yaml")
	if err := os.WriteFile(cfgFile, out, 0o644); err != nil {
		t.Fatal(err)
	}

	// The real binary, started as `make run` starts it (from the repository, -simulate).
	bin := filepath.Join(tmp, "ioc")
	build := exec.Command(goBinary(), "build", "-o", bin, "./cmd/ioc")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building ioc: %v\n%s", err, out)
	}
	var logBuf procout.Buffer
	ioc := exec.Command(bin, "run", "-config", cfgFile, "-simulate")
	ioc.Dir = repo
	ioc.Env = append(os.Environ(), fmt.Sprintf("IOC_MQTT_URL=tcp://127.0.0.1:%d", mqttPort),
		"IOC_MQTT_CLIENT_ID=first-ingest-"+run, "IOC_KAFKA_BROKERS="+brokers, "IOC_CLICKHOUSE_ADDR="+chAddr,
		"IOC_DASHBOARD_LISTEN=", "IOC_OPS_LISTEN=")
	ioc.Stdout, ioc.Stderr = &logBuf, &logBuf
	started := time.Now()
	if err := ioc.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = ioc.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- ioc.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = ioc.Process.Kill()
			<-done
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("ioc run -simulate said (last 6000 bytes):\n%s", logBuf.Tail(6000))
		}
	})

	wallURL := fmt.Sprintf("http://127.0.0.1:%d/", wallPort)
	testpoll.Eventually(t, 90*time.Second, "the wall answers", func() (bool, string) {
		resp, err := http.Get(wallURL)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	answered := time.Now()
	t.Logf("the wall answers %s after start", answered.Sub(started).Round(time.Millisecond))

	// The newcomer opens both pages at once.
	wall := startBrowser(t, 1920, 1080)
	wall.navigate(wallURL)
	kpi := startBrowser(t, 1920, 1080)
	kpi.navigate(wallURL + "kpi/")
	wall.waitJS("the wall page loaded", `document.readyState === 'complete' && !!document.getElementById('unreg') && !!window.__wall`, 30*time.Second)
	kpi.waitJS("the KPI page loaded", `document.readyState === 'complete' && !!document.getElementById('empty')`, 30*time.Second)

	dir := screenshotDir(t)
	var last wallView
	var lastKPI kpiView
	var wallDone, kpiDone time.Duration // 0: not complete yet
	// check looks at both pages every 500 ms until deadline after the wall
	// answered, failing on any broken invariant; final stops it once both
	// pages are complete.
	check := func(deadline time.Duration, final bool) {
		testpoll.Poll(deadline-time.Since(answered), 500*time.Millisecond, func() bool {
			var v wallView
			wall.eval(readWall, &v)
			for _, bad := range v.invariants() {
				t.Errorf("at %s: %s", time.Since(answered).Round(time.Second), bad)
			}
			if t.Failed() {
				t.FailNow()
			}
			var k kpiView
			kpi.eval(readKPI, &k)
			last, lastKPI = v, k
			if wallDone == 0 && len(v.complete()) == 0 {
				wallDone = time.Since(answered)
			}
			if kpiDone == 0 && len(k.complete()) == 0 {
				kpiDone = time.Since(answered)
			}
			return final && wallDone > 0 && kpiDone > 0
		})
	}
	// 30 s: whatever is shown must already be true (invariants).
	check(30*time.Second, false)
	wall.screenshot(filepath.Join(dir, "wall-30s.png"))
	kpi.screenshot(filepath.Join(dir, "kpi-30s.png"))
	t.Logf("at 30 s: map %q, cards %v, missing on the wall %v, on the KPI page %v", last.MapCount, last.Cards, last.complete(), lastKPI.complete())

	// Complete: the target is 60 s after the wall answered (issue 13); the
	// test reports the time it took and waits up to completeWithin, so that
	// a loaded CI machine measures a slow start instead of failing on it.
	const target, completeWithin = 60 * time.Second, 4 * time.Minute
	check(completeWithin, true)
	if bad := last.complete(); len(bad) > 0 {
		t.Errorf("the wall is not complete %s after it answered:\n  %s", completeWithin, strings.Join(bad, "\n  "))
	}
	if bad := lastKPI.complete(); len(bad) > 0 {
		t.Errorf("the KPI page is not complete %s after the wall answered:\n  %s", completeWithin, strings.Join(bad, "\n  "))
	}
	if wallDone > target || kpiDone > target {
		t.Logf("FIGURE: slower than the %s target on this machine (load average %s)", target, loadAverage())
	}
	for _, line := range strings.Split(logBuf.String(), "\n") {
		for _, key := range []string{"stream running", "monitor state read", "simulator backfilled", "scenario published"} {
			if strings.Contains(line, key) {
				t.Logf("ioc: %.200s", line)
			}
		}
	}
	t.Logf("complete after (0s: never): wall %s, KPI page %s; map %q, cards %v, %d alerts on the ticker", wallDone.Round(time.Second), kpiDone.Round(time.Second),
		last.MapCount, last.Cards, last.Alerts)
	for _, b := range []*browser{wall, kpi} {
		if errs := b.errors(); len(errs) > 0 {
			t.Errorf("a page logged errors:\n%s", strings.Join(errs, "\n"))
		}
	}
	if t.Failed() {
		wall.screenshot(filepath.Join(dir, "wall-failed.png"))
		kpi.screenshot(filepath.Join(dir, "kpi-failed.png"))
		t.Logf("screenshots in %s", dir)
		return
	}
	// The README's pictures: today's wall and KPI page, complete.
	img := os.Getenv("IOC_README_IMG_DIR")
	if img == "" {
		img = filepath.Join(repo, "docs", "img")
	}
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	wall.screenshot(filepath.Join(img, "wall.png"))
	kpi.screenshot(filepath.Join(img, "kpi.png"))
	checkPNG(t, filepath.Join(img, "wall.png"), 1920, 1080)
	checkPNG(t, filepath.Join(img, "kpi.png"), 1920, 1080)
	t.Logf("screenshots: %s (README), %s (30 s)", img, dir)
}

// goBinary is the go tool that runs this test.
func goBinary() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) { //nolint:staticcheck // SA1019: a test binary runs where it was built, so its GOROOT is real
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// loadAverage is /proc/loadavg's first three figures, for the log.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
