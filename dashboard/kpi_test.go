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
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

func kpiTile(id, group, vi, en, unit string, order int, value, num float64, den, target *float64, asOf time.Time) event.Tile {
	v := value
	months := []time.Month{1, 2, 3, 4, 5}
	var series []event.Point
	for i, m := range months {
		end := time.Date(2021, m+1, 1, 0, 0, 0, 0, event.Location).Add(-time.Millisecond)
		pv := value * float64(i+1) / 6
		series = append(series, event.Point{At: end.Format(time.DateOnly), Ms: end.UnixMilli(), Value: &pv, Numerator: num * float64(i+1) / 6})
	}
	series = append(series, event.Point{At: asOf.Format(time.DateOnly), Ms: asOf.UnixMilli(), Value: &v, Numerator: num, Denominator: den})
	return event.Tile{ID: id, Order: order, Group: group, LabelVI: vi, LabelEN: en, Unit: unit, Value: &v, Numerator: num,
		Denominator: den, Target: target, Period: event.Period{Label: "2021", From: "2021-01-01", To: "2021-06-30"},
		AsOf: asOf.Format(time.RFC3339), AsOfMs: asOf.UnixMilli(), ComputedMs: time.Now().UnixMilli(), Series: series}
}

func fp(v float64) *float64 { return &v }

// TestKPIPageInChromium loads the leadership page in a real browser: large
// tiles with Vietnamese labels and numbers, the English toggle, a tile that
// changes live over the websocket (protocol v2, kpi channel), a restatement shown, and
// no console error or CSP violation.
func TestKPIPageInChromium(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond,
		Auth: auth.Config{Store: "memory", DevOpen: true, DevOpenRole: "leadership"}}, kafkaconn.Config{},
		chconn.Config{Addr: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes()}
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); srv.Close() })
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.v2.flush()
			}
		}
	}()
	asOf := time.Date(2021, 6, 30, 17, 0, 0, 0, event.Location)
	tasks := kpiTile("reform_plan.done", "reform_plan", "Nhiệm vụ kế hoạch CCHC đã hoàn thành", "Reform plan tasks done", "percent", 1,
		36.0/70*100, 36, fp(70), fp(100), asOf)
	docs := kpiTile("documents.signed", "e_government", "Văn bản UBND thành phố ban hành có ký số", "City People's Committee documents signed digitally",
		"percent", 2, 4704.0/4910*100, 4704, fp(4910), fp(100), asOf)
	budget := kpiTile("budget.yoy", "budget", "Thu ngân sách so với cùng kỳ năm trước", "Budget revenue against the same period last year",
		"percent_change", 3, 56.26, 194.7e9, fp(124.6e9), nil, asOf)
	procs := kpiTile("procedures.published", "procedures", "Thủ tục hành chính đã công bố", "Administrative procedures published", "count", 4,
		186, 186, nil, nil, asOf)
	procs.Breakdown = []event.Part{{Key: "justice", LabelVI: "Tư pháp", LabelEN: "Justice", Value: 38}}
	put := func(tl event.Tile) {
		t.Helper()
		raw, err := event.MarshalTile(&tl)
		if err != nil {
			t.Fatal(err)
		}
		s.putTile(tl, raw)
	}
	for _, tl := range []event.Tile{tasks, docs, budget, procs} {
		put(tl)
	}

	b := startBrowser(t, 1920, 1080)
	b.navigate(fmt.Sprintf("http://%s/kpi/", ln.Addr()))
	b.waitJS("the tiles are shown, live", `document.querySelectorAll('.tile').length === 4 && document.getElementById('conn').classList.contains('live')`, 30*time.Second)
	var page struct {
		Lang, Title, AsOf string
		Values, Labels    []string
		Details           []string
		Breakdown         string
		Groups            int
	}
	read := func() {
		b.eval(`(() => ({Lang: document.documentElement.lang, Title: document.title, AsOf: document.getElementById('asof-time').textContent,
			Values: [...document.querySelectorAll('.tile .value')].map(e => e.textContent),
			Labels: [...document.querySelectorAll('.tile .label')].map(e => e.textContent),
			Details: [...document.querySelectorAll('.tile .detail')].map(e => e.textContent),
			Breakdown: (document.querySelector('.breakdown') || {}).textContent || '',
			Groups: document.querySelectorAll('.tile .group').length}))()`, &page)
	}
	read()
	want := []string{"51,4%", "95,8%", "+56,3%", "186"}
	if page.Lang != "vi" || strings.Join(page.Values, "|") != strings.Join(want, "|") || page.Labels[1] != docs.LabelVI ||
		!strings.Contains(page.Details[1], "4.704 trên 4.910 văn bản") || !strings.Contains(page.Details[2], "194,7 tỷ đồng") ||
		!strings.Contains(page.AsOf, "30/06/2021") || !strings.Contains(page.Breakdown, "38 Tư pháp") || page.Groups != 4 {
		t.Errorf("the page in Vietnamese: %+v", page)
	}

	// English on the toggle.
	b.eval(`document.getElementById('lang').click()`, nil)
	b.waitJS("English labels", `document.documentElement.lang === 'en'`, 5*time.Second)
	read()
	if page.Labels[0] != tasks.LabelEN || strings.Join(page.Values, "|") != "51.4%|95.8%|+56.3%|186" || !strings.Contains(page.Details[1], "4,704 of 4,910 documents") {
		t.Errorf("the page in English: %+v", page)
	}

	// A late document restates March: the tile moves live, with a note.
	late := kpiTile("documents.signed", "e_government", docs.LabelVI, docs.LabelEN, "percent", 2, 4704.0/4911*100, 4704, fp(4911), fp(100), asOf)
	late.Restated = &event.Restatement{AtMs: time.Now().UnixMilli(), Months: []string{"2021-03"}, PreviousValue: docs.Value}
	put(late)
	b.waitJS("the restated tile", `[...document.querySelectorAll('.tile')].some(e => e.dataset.id === 'documents.signed' &&
		e.querySelector('.restated') && e.querySelector('.detail').textContent.includes('4,911'))`, 10*time.Second)
	var note string
	b.eval(`document.querySelector('.tile[data-id="documents.signed"] .restated').textContent`, &note)
	if !strings.Contains(note, "03/2021") || !strings.Contains(note, "95.8") {
		t.Errorf("restatement note %q", note)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or CSP violations: %v", errs)
	}
	b.screenshot(filepath.Join(screenshotDir(t), "kpi.png"))
}
