package report

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

func fp(v float64) *float64 { return &v }

// sample is a report of two tiles, one of them restated.
func sample() *Report {
	asOf := time.Date(2021, 6, 30, 17, 0, 0, 0, event.Location)
	p, _ := ParsePeriod("2021-Q2")
	on := event.Tile{ID: "dossiers.on_time", LabelVI: "Hồ sơ giải quyết đúng hạn", LabelEN: "Dossiers resolved on time", Unit: "percent",
		Value: fp(9694.0 / 9695 * 100), Numerator: 9694, Denominator: fp(9695), Target: fp(100), AsOfMs: asOf.UnixMilli(),
		Restated: &event.Restatement{AtMs: asOf.Add(72 * time.Hour).UnixMilli(), Months: []string{"2021-03", "2021-04"}, PreviousValue: fp(100)}}
	budget := event.Tile{ID: "budget.yoy", LabelVI: "Thu ngân sách so với cùng kỳ năm trước", LabelEN: "Budget revenue against the same period last year",
		Unit: "percent_change", Value: fp(56.26), Numerator: 194.7e9, Denominator: fp(124.6e9), AsOfMs: asOf.UnixMilli()}
	pts := func(t event.Tile) []event.Point {
		return []event.Point{{At: "2021-04-30", Ms: 1, Value: t.Value, Numerator: t.Numerator - 2, Denominator: t.Denominator},
			{At: "2021-05-31", Ms: 2, Value: t.Value, Numerator: t.Numerator - 1, Denominator: t.Denominator},
			{At: "2021-06-30", Ms: asOf.UnixMilli(), Value: t.Value, Numerator: t.Numerator, Denominator: t.Denominator}}
	}
	return &Report{Period: p, PeriodKey: p.Label, AsOf: asOf, Generated: asOf.Add(96 * time.Hour), Lines: []Line{
		{Tile: on, Trend: pts(on), Breakdowns: []Breakdown{{By: kpi.ByUnit, Rows: []kpi.DrillRow{
			{Key: "phuong-chieng-an", LabelVI: "UBND phường Chiềng An", LabelEN: "UBND phường Chiềng An", Kind: "ward", Numerator: 382, Denominator: fp(383), Value: fp(382.0 / 383 * 100)},
		}}}},
		{Tile: budget, Trend: pts(budget)},
	}}
}

// The CSV carries the figures unrounded and the restatement note; the
// PDF (read back with pdftotext) has the header, the figures as the tiles
// print them and the note, in both languages.
func TestRender(t *testing.T) {
	r := sample()
	var buf bytes.Buffer
	if err := r.Write(&buf, "vi", CSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+1+3+1+1+3 {
		t.Fatalf("%d rows: %v", len(rows), rows)
	}
	if got := strings.Join(rows[1], "|"); got != "tile|dossiers.on_time|Hồ sơ giải quyết đúng hạn|||99.98968540484786|9694|9695|100|percent|2021-06-30T17:00:00+07:00|Điều chỉnh số liệu tháng 03/2021, 04/2021 (03/07/2021 17:00); trước đó 100,0 %" {
		t.Errorf("tile row: %s", got)
	}
	if got := strings.Join(rows[5], "|"); !strings.HasPrefix(got, "unit|dossiers.on_time|Hồ sơ giải quyết đúng hạn|phuong-chieng-an|UBND phường Chiềng An|99.73890339425587|382|383") {
		t.Errorf("unit row: %s", got)
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext missing (make test-tools installs poppler-utils)")
	}
	for lang, want := range map[string][]string{
		"vi": {"UBND THÀNH PHỐ SƠN LA", "quý II năm 2021", "100,0 %", "9.694 / 9.695", "+56,3 %", "194,7 tỷ đồng / 124,6 tỷ đồng",
			"Điều chỉnh số liệu tháng 03/2021, 04/2021", "Đơn vị", "UBND phường Chiềng An", "Sơn La, ngày 04 tháng 07 năm 2021"},
		"en": {"SON LA CITY PEOPLE'S COMMITTEE", "Q2 2021", "9,694 / 9,695", "+56.3 %", "194.7 bn VND / 124.6 bn VND",
			"Restated months 03/2021, 04/2021", "previously 100.0 %", "Son La, 4 July 2021"},
	} {
		buf.Reset()
		if err := r.Write(&buf, lang, PDF); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "r.pdf")
		if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", f, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s PDF: no %q in:\n%s", lang, w, out)
			}
		}
	}
}
