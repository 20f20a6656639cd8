package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/kpi"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// TestKPIDrillInChromium plays the H1-2021 scenario into the real feeds
// pipeline (Kafka → ClickHouse → KPI engine → tiles topic) and a real
// dashboard, then in Chromium: a click on a tile opens its breakdown by
// unit (the 13 one-stop shops), by field, the near-due dossiers with unit
// and due time; the panel follows the English toggle; the report link
// downloads the H1-2021 PDF, whose text has the city's header with its
// diacritics.
func TestKPIDrillInChromium(t *testing.T) {
	brokers, chAddr := os.Getenv("IOC_KAFKA_BROKERS"), os.Getenv("IOC_CLICKHOUSE_ADDR")
	if brokers == "" || chAddr == "" {
		t.Skip("IOC_KAFKA_BROKERS and IOC_CLICKHOUSE_ADDR not set: runs against the local services (make test)")
	}
	chromium(t)
	run := fmt.Sprintf("%d%03d", time.Now().Unix()%1000000, rand.IntN(1000))
	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), TopicPrefix: "drill" + run + "."}
	kc.Defaults()
	ch := chconn.Config{Addr: strings.Split(chAddr, ","), Database: "ioc_drill_" + run}
	ch.Defaults()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := ch.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		_, _ = kc.DeleteTopicsWithPrefix(cctx)
		_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS "+ch.Database)
		_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS "+ch.SecurityDatabase())
		conn.Close()
	})
	if err := schema.Migrate(ctx, conn, ch, log); err != nil {
		t.Fatal(err)
	}
	fe, err := feeds.New(feeds.Config{GroupID: "drill-" + run, MaxAge: 100 * time.Millisecond,
		KPI: kpi.Config{Settle: time.Second, Interval: 2 * time.Second}}, kc, ch, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond,
		Auth: auth.Config{Store: "memory", DevOpen: true, DevOpenRole: "leadership"}}, kc, ch, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- fe.Run(ctx) }()
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	sc := simulate.H12021()
	if err := simulate.RunScenario(ctx, simulate.ScenarioOptions{Name: "h1-2021"}, kc, log); err != nil {
		t.Fatal(err)
	}
	testpoll.Eventually(t, 120*time.Second, "the dashboard has every tile with the scenario's figures", func() (bool, string) {
		if s.Addr() == nil {
			return false, "not listening"
		}
		s.kpis.mu.Lock()
		defer s.kpis.mu.Unlock()
		on, near := s.kpis.tiles["dossiers.on_time"], s.kpis.tiles["dossiers.near_due"]
		ok := len(s.kpis.tiles) == len(kpi.Defs) && on.Numerator == float64(sc.Figures.DossiersOnTime) &&
			near.Numerator == float64(sc.Figures.DossiersNearDue) && on.AsOfMs == sc.AsOf.UnixMilli()
		return ok, fmt.Sprintf("%d tiles, on time %v, near due %v", len(s.kpis.tiles), on.Numerator, near.Numerator)
	})
	base := "http://" + s.Addr().String()

	b := startBrowser(t, 1600, 1000)
	downloads := t.TempDir()
	b.call("Page.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": downloads})
	b.navigate(base + "/kpi/")
	b.waitJS("the tiles and the report bar", `document.querySelectorAll('.tile').length === `+fmt.Sprint(len(kpi.Defs))+` && document.getElementById('report-download') &&
		document.getElementById('report-download').href.includes('period=2021-H1')`, 30*time.Second)

	b.eval(`document.querySelector('.tile[data-id="dossiers.on_time"]').click()`, nil)
	b.waitJS("the breakdown by unit", `!document.getElementById('drill').hidden && document.querySelectorAll('#drill tbody tr').length === 13`, 20*time.Second)
	var panel struct {
		Title, Text string
		Tabs        []string
		Rows        []string
		Links       []string
	}
	read := func() {
		b.eval(`(() => ({Title: document.getElementById('drill-title').textContent, Text: document.getElementById('drill').innerText,
			Tabs: [...document.querySelectorAll('#drill .drill-tabs button')].map(e => e.textContent),
			Rows: [...document.querySelectorAll('#drill tbody tr')].map(e => e.innerText.replace(/\s+/g, ' ')),
			Links: [...document.querySelectorAll('#drill .drill-dl')].map(e => e.getAttribute('href'))}))()`, &panel)
	}
	read()
	if panel.Title != "Hồ sơ giải quyết đúng hạn" || strings.Join(panel.Tabs, "|") != "Theo đơn vị|Theo lĩnh vực|Theo tháng|Hồ sơ trễ hẹn|Hồ sơ sắp đến hạn" ||
		!strings.Contains(panel.Text, "UBND phường Chiềng An") || !strings.Contains(panel.Text, "UBND thành phố Sơn La") ||
		len(panel.Links) != 2 || !strings.HasSuffix(panel.Links[1], "/breakdown?by=unit&format=xlsx") {
		t.Errorf("the panel by unit: %+v", panel)
	}
	b.eval(`document.querySelector('#drill .drill-tabs button[data-view="field"]').click()`, nil)
	b.waitJS("the breakdown by field", `document.querySelectorAll('#drill tbody tr').length === 7 && document.getElementById('drill').innerText.includes('Tư pháp')`, 20*time.Second)
	b.eval(`document.querySelector('#drill .drill-tabs button[data-view="near_due"]').click()`, nil)
	b.waitJS("the near-due dossiers", fmt.Sprintf(`document.querySelectorAll('#drill tbody tr').length === %d && document.getElementById('drill').innerText.includes('Hạn giải quyết')`,
		sc.Figures.DossiersNearDue), 20*time.Second)
	read()
	for _, r := range panel.Rows {
		if !strings.Contains(r, "UBND") || !strings.Contains(r, "30/06/2021") && !strings.Contains(r, "01/07/2021") {
			t.Errorf("a near-due dossier without its unit or due time: %q", r)
		}
	}
	b.screenshot(filepath.Join(screenshotDir(t), "kpi-drill-vi.png"))

	// English: the page's toggle; the panel follows.
	b.eval(`document.getElementById('lang').click()`, nil)
	b.waitJS("the panel in English", `document.documentElement.lang === 'en' && document.getElementById('drill-title').textContent === 'Dossiers resolved on time' &&
		document.getElementById('drill').innerText.includes('Due')`, 20*time.Second)
	// The report bar follows too (kpiDrill section of lib/strings.js).
	b.waitJS("the report bar in English", `document.querySelector('#report-bar .report-label').textContent === 'Report:' &&
		document.getElementById('report-download').textContent === 'Download report' &&
		[...document.querySelectorAll('#report-period option')].some(o => o.textContent === 'Half 1/2021')`, 10*time.Second)
	b.eval(`document.querySelector('#drill .drill-close').click()`, nil)
	b.waitJS("the panel closes", `document.getElementById('drill').hidden`, 5*time.Second)
	b.eval(`document.querySelector('.tile[data-id="reform_plan.done"]').click()`, nil)
	b.waitJS("reform plan by main task", `document.querySelectorAll('#drill tbody tr').length === 7 && document.getElementById('drill').innerText.includes('Leadership and direction')`, 20*time.Second)
	b.screenshot(filepath.Join(screenshotDir(t), "kpi-drill-en.png"))

	// The report: Vietnamese PDF of H1 2021, downloaded by a click.
	b.eval(`(() => { const l = document.getElementById('report-lang'); l.value = 'vi'; l.dispatchEvent(new Event('change')); })()`, nil)
	var href string
	b.eval(`document.getElementById('report-download').href`, &href)
	if !strings.HasSuffix(href, "/api/kpis/report?period=2021-H1&lang=vi&format=pdf") {
		t.Errorf("report link %q", href)
	}
	b.eval(`document.getElementById('report-download').click()`, nil)
	var pdf []byte
	testpoll.Eventually(t, 60*time.Second, "the report is downloaded", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(downloads, "*.pdf"))
		if len(files) == 0 {
			return false, "no file yet"
		}
		pdf, _ = os.ReadFile(files[0])
		return filepath.Base(files[0]) == "bao-cao-kpi-2021-H1-vi.pdf" && bytes.HasPrefix(pdf, []byte("%PDF-")) && bytes.Contains(pdf, []byte("%%EOF")),
			filepath.Base(files[0])
	})
	if _, err := exec.LookPath("pdftotext"); err == nil {
		f := filepath.Join(downloads, "report.pdf")
		_ = os.WriteFile(f, pdf, 0o600)
		out, err := exec.Command("pdftotext", "-enc", "UTF-8", f, "-").Output()
		if err != nil || !bytes.Contains(out, []byte("UBND THÀNH PHỐ SƠN LA")) || !bytes.Contains(out, []byte("Hồ sơ giải quyết đúng hạn")) {
			t.Errorf("the downloaded PDF's text (%v): %.300s", err, out)
		}
	} else {
		t.Error("pdftotext is missing: apt-get install poppler-utils")
	}
	// The drill-down's export link downloads the same rows.
	resp, err := http.Get(base + "/api/kpis/dossiers.on_time/breakdown?by=unit")
	if err == nil {
		var br BreakdownResponse
		_ = json.NewDecoder(resp.Body).Decode(&br)
		resp.Body.Close()
		if len(br.Rows) != 13 {
			t.Errorf("breakdown by unit: %d rows", len(br.Rows))
		}
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or CSP violations: %v", errs)
	}

	// The wall's alerts table has its export links (this principal may
	// see alerts and export), and the link answers a CSV.
	b.navigate(base + "/")
	b.waitJS("the alerts export links", `[...document.querySelectorAll('.alerts-panel [data-export] a')].map(a => a.getAttribute('href')).join(' ') ===
		'/api/export/alerts?format=csv /api/export/alerts?format=xlsx'`, 30*time.Second)
	// The page is in English (the choice made on the KPI page); the export
	// links' text follows the wall's switch (export section of lib/strings.js).
	b.waitJS("the export links in English", `document.documentElement.lang === 'en' &&
		document.querySelector('.alerts-panel [data-export]').textContent.startsWith('Download: CSV')`, 10*time.Second)
	b.eval(`document.getElementById('lang').click()`, nil)
	b.waitJS("the export links in Vietnamese", `document.documentElement.lang === 'vi' &&
		document.querySelector('.alerts-panel [data-export]').textContent.startsWith('Tải về: CSV')`, 10*time.Second)
	var got struct {
		Status int
		Type   string
		Head   string
	}
	b.eval(`fetch(document.querySelector('.alerts-panel [data-export] a').href).then(async (r) => ({Status: r.status,
		Type: r.headers.get('content-type'), Head: (await r.text()).split('\n')[0]}))`, &got)
	if got.Status != 200 || !strings.HasPrefix(got.Type, "text/csv") || !strings.Contains(got.Head, "alert_id,rule,kind,severity,state") {
		t.Errorf("the alerts export from the wall: %+v", got)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or CSP violations on the wall: %v", errs)
	}
}
