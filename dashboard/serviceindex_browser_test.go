package dashboard

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

// TestServiceIndexPageInChromium opens the index page over the scenario
// (real engine, real ClickHouse) from the KPI board's index tile: the
// city's total and six groups, the trend, the units ranked; switches to
// English; clicks the ward and sees its indicators (the progress one with
// 3 of 4, a city-level one "not applicable"), then the late dossier that
// cost it points.
func TestServiceIndexPageInChromium(t *testing.T) {
	chromium(t)
	ch, ctx := serviceIndexDB(t)
	s, base := serveDashboard(t, ch, "leadership")
	// The KPI tiles as the stream role publishes them, the index's seven
	// (service_index.*) among them.
	eng, err := kpi.NewEngine(kpi.Config{}, s.kafka, ch, s.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.chConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	asOf, ok, err := eng.Watermark(ctx, conn, time.Now())
	if err != nil || !ok {
		t.Fatalf("watermark: %v %v", ok, err)
	}
	tiles, err := eng.Compute(ctx, conn, asOf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tiles {
		raw, err := event.MarshalTile(&tiles[i])
		if err != nil {
			t.Fatal(err)
		}
		s.putTile(tiles[i], raw)
	}

	b := startBrowser(t, 1500, 1000)
	b.navigate(base + "/kpi/")
	b.waitJS("the index tiles on the KPI board", `document.querySelectorAll('.tile[data-id^="service_index."]').length === 7 &&
		document.querySelector('.tile[data-id="service_index.progress"]').title === 'Bấm để xem chỉ số phục vụ theo đơn vị'`, 20*time.Second)
	var total struct{ Value, Detail string }
	b.eval(`({Value: document.querySelector('.tile[data-id="service_index.total"] .value').textContent,
		Detail: document.querySelector('.tile[data-id="service_index.total"] .detail').textContent})`, &total)
	b.screenshot(filepath.Join(screenshotDir(t), "kpi-board-index-tiles.png"))
	// A group's tile opens the page on that group.
	b.eval(`document.querySelector('.tile[data-id="service_index.progress"]').click()`, nil)
	// Without ?period= the page shows what the tiles show: the year to
	// date to the month of their as_of.
	b.waitJS("the index page", `location.pathname === '/kpi/service-index.html' && window.__svcIndex && window.__svcIndex.ready &&
		window.__svcIndex.period() === '2026-YTD-10'`, 30*time.Second)
	var page struct {
		Title, Total, Period string
		Groups, Ranking      []string
		Trend                bool
	}
	read := func() {
		b.eval(`({Title: document.getElementById('title').textContent, Total: document.getElementById('total').textContent,
			Period: document.getElementById('period-title').textContent,
			Groups: [...document.querySelectorAll('#groups .group')].map(e => e.textContent),
			Ranking: [...document.querySelectorAll('#ranking tr')].map(e => e.innerText.replace(/\s+/g, ' ')),
			Trend: !!document.querySelector('#trend .uplot canvas')})`, &page)
	}
	read()
	if total.Value != page.Total || !strings.HasSuffix(total.Detail, "/ 100 điểm") {
		t.Errorf("the KPI board's index tile %+v, the page's total %q (of 100)", total, page.Total)
	}
	var focus string
	b.eval(`location.hash + ' ' + [...document.querySelectorAll('#groups .group.focus')].map(e => e.dataset.group).join(',')`, &focus)
	if focus != "#progress progress" {
		t.Errorf("the group tile's link: %q, want #progress and its card marked", focus)
	}
	if page.Title != "Chỉ số phục vụ người dân, doanh nghiệp (QĐ 766/QĐ-TTg)" || page.Period != "Từ đầu năm đến hết tháng 10/2026" || !page.Trend ||
		len(page.Groups) != 6 || !strings.Contains(page.Groups[1], "Tiến độ giải quyết") || !strings.Contains(page.Groups[1], "/ 20") ||
		len(page.Ranking) != 3 || !strings.Contains(page.Ranking[2], "UBND phường Chiềng Lề") || !strings.Contains(page.Ranking[2], "Phường") {
		t.Errorf("the page in Vietnamese: %+v", page)
	}
	b.screenshot(filepath.Join(screenshotDir(t), "service-index-vi.png"))

	// English, then the ward.
	b.eval(`document.getElementById('lang').click()`, nil)
	b.waitJS("the page in English", `document.documentElement.lang === 'en' && document.getElementById('period-title').textContent === '1 January to the end of 10/2026' &&
		document.querySelector('#groups .group[data-group="progress"]').textContent.includes('Progress of handling') &&
		[...document.querySelectorAll('#ranking tr')].some(r => r.innerText.includes('Department'))`, 10*time.Second)
	b.eval(`document.querySelector('#ranking tr[data-unit="`+idxWard+`"]').click()`, nil)
	b.waitJS("the ward's indicators", `!document.getElementById('unit').hidden && document.getElementById('unit-title') &&
		document.getElementById('unit-title').textContent === 'UBND phường Chiềng Lề' &&
		document.querySelectorAll('#unit tr.ind').length === 19`, 20*time.Second)
	var ind struct{ Progress, Published, Headers string }
	b.eval(`({Progress: document.querySelector('#unit tr.ind[data-code="progress.on_time"]').innerText.replace(/\s+/g, ' '),
		Published: document.querySelector('#unit tr.ind[data-code="publicity.published_on_time"]').innerText.replace(/\s+/g, ' '),
		Headers: document.querySelector('#unit table.ind-table thead').innerText.replace(/\s+/g, ' ').trim()})`, &ind)
	if !strings.Contains(ind.Progress, "Dossiers handled on time or within deadline") || !strings.Contains(ind.Progress, "3 4 75.00 %") ||
		!strings.Contains(ind.Progress, "15.00 / 20.00") || !strings.Contains(ind.Progress, "maximum × rate") || !strings.Contains(ind.Progress, "late") {
		t.Errorf("the ward's progress indicator: %q", ind.Progress)
	}
	if !strings.Contains(ind.Published, "Not applicable") {
		t.Errorf("a city-level indicator at the ward: %q, want Not applicable", ind.Published)
	}
	if ind.Headers != "Indicator Numerator Denominator Rate Points Rule" {
		t.Errorf("indicator table headers %q", ind.Headers)
	}

	// From the indicator to the dossier that cost it points.
	b.eval(`document.querySelector('#unit tr.ind[data-code="progress.on_time"] .costly-btn').click()`, nil)
	b.waitJS("the late dossier", `!document.getElementById('costly').hidden && document.querySelectorAll('#costly tbody tr').length === 1 &&
		document.querySelector('#costly tbody tr').dataset.id === '`+idxLate+`'`, 20*time.Second)
	var costly struct{ Head, Row string }
	b.eval(`({Head: document.querySelector('#costly h3').textContent, Row: document.querySelector('#costly tbody tr').innerText.replace(/\s+/g, ' ')})`, &costly)
	if !strings.Contains(costly.Head, "Dossiers that cost points: late") || !strings.Contains(costly.Row, "1.000001.000.00.00.H50") ||
		!strings.Contains(costly.Row, "05/10/2026") || !strings.Contains(costly.Row, "08/10/2026") {
		t.Errorf("the costly dossier: %+v", costly)
	}
	var href string
	b.eval(`location.search`, &href)
	if !strings.Contains(href, "unit="+idxWard) || !strings.Contains(href, "reason=late") {
		t.Errorf("the address %q does not keep the unit and the list", href)
	}
	b.screenshot(filepath.Join(screenshotDir(t), "service-index-en-unit.png"))

	// Back in Vietnamese, the panel follows; a quarter is picked.
	b.eval(`document.getElementById('lang').click()`, nil)
	b.waitJS("the panel in Vietnamese", `document.documentElement.lang === 'vi' && document.querySelector('#costly h3') &&
		document.querySelector('#costly h3').textContent.includes('Hồ sơ làm mất điểm: trễ hạn') &&
		document.querySelector('#unit tr.ind[data-code="publicity.published_on_time"]').innerText.includes('Không áp dụng')`, 20*time.Second)
	b.eval(`(() => { const k = document.getElementById('period-kind'); k.value = 'quarter'; k.dispatchEvent(new Event('change')); })()`, nil)
	b.waitJS("the quarter", `window.__svcIndex.ready && window.__svcIndex.period() === '2026-Q4' &&
		document.getElementById('period-title').textContent === 'Quý 4/2026' && document.querySelectorAll('#ranking tr').length === 3 &&
		document.getElementById('unit-title') && document.querySelectorAll('#unit tr.ind').length === 19 &&
		document.querySelectorAll('#costly tbody tr').length === 1`, 30*time.Second)
	b.screenshot(filepath.Join(screenshotDir(t), "service-index-vi-quarter.png"))
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or CSP violations: %v", errs)
	}
}
