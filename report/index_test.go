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
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

func TestIndexPeriodOf(t *testing.T) {
	for _, c := range []struct{ in, vi, en string }{
		{"2026-11", "tháng 11 năm 2026", "November 2026"},
		{"2026-Q4", "quý IV năm 2026", "Q4 2026"},
		{"2021-YTD-06", "từ 01/01 đến hết tháng 06 năm 2021", "1 January to the end of June 2021"},
	} {
		p, err := svcindex.ParsePeriod(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if IndexPeriodTitle(p, "vi") != c.vi || IndexPeriodTitle(p, "en") != c.en {
			t.Errorf("%s titles %q, %q", c.in, IndexPeriodTitle(p, "vi"), IndexPeriodTitle(p, "en"))
		}
	}
	// A report period's index period: the month, the quarter, or the
	// year to date for a half-year and a year.
	for in, want := range map[string]string{"2021-06": "2021-06", "2021-Q2": "2021-Q2", "2021-H1": "2021-YTD-06", "2021-H2": "2021-YTD-12", "2021": "2021-YTD-12"} {
		p, _ := ParsePeriod(in)
		if got := IndexPeriodOf(p).Key; got != want {
			t.Errorf("report period %s: index period %s, want %s", in, got, want)
		}
	}
}

// indexSample is an index section of three units: the city, a ward whose
// publicity indicator does not apply, and a department.
func indexSample() *IndexSection {
	p := svcindex.YTDPeriod(2021, 6)
	asOf := time.Date(2021, 6, 30, 17, 0, 0, 0, event.Location)
	score := func(id, kind, name string, progress float64, publicityApplies bool) svcindex.Score {
		pub := svcindex.Indicator{Code: "publicity.synced", NameVI: "Hồ sơ đồng bộ lên Cổng Dịch vụ công quốc gia", NameEN: "Dossiers synchronised to the national portal",
			Applies: publicityApplies, Max: 18, Rule: "linear", Source: "QĐ 766 Phụ lục"}
		if publicityApplies {
			pub.Numerator, pub.Denominator, pub.Rate, pub.Points = 950, 1000, 0.95, 17.1
		}
		prog := svcindex.Indicator{Code: "progress.on_time", NameVI: "Hồ sơ giải quyết đúng hạn", NameEN: "Dossiers handled on time", Applies: true,
			Numerator: 393087, Denominator: 443565, Rate: 393087.0 / 443565, Points: progress, Max: 20, Rule: "linear"}
		groups := []svcindex.Group{
			{Code: "publicity", NameVI: "Công khai, minh bạch", NameEN: "Publicity and transparency", Points: pub.Points, Max: map[bool]float64{true: 18, false: 0}[publicityApplies], Indicators: []svcindex.Indicator{pub}},
			{Code: "progress", NameVI: "Tiến độ giải quyết", NameEN: "Progress", Points: progress, Max: 20, Indicators: []svcindex.Indicator{prog}},
			{Code: "online", NameVI: "Dịch vụ công trực tuyến", NameEN: "Online public services", Points: 9.5, Max: 12},
			{Code: "payment", NameVI: "Thanh toán trực tuyến", NameEN: "Online payment", Points: 6.25, Max: 10},
			{Code: "digitisation", NameVI: "Mức độ số hóa hồ sơ", NameEN: "Digitisation", Points: 15.4, Max: 22},
			{Code: "satisfaction", NameVI: "Mức độ hài lòng", NameEN: "Satisfaction", Points: 16.9, Max: 18},
		}
		s := svcindex.Score{Unit: svcindex.Unit{ID: id, Kind: kind, Name: name}, Period: p, AsOf: asOf, Groups: groups}
		for _, g := range groups {
			s.Total += g.Points
			s.Max += g.Max
		}
		s.Percent = s.Total / s.Max * 100
		return s
	}
	city := score("city", "city", "UBND thành phố Sơn La", 17.72, true)
	ward := score("phuong-chieng-le", "ward", "UBND phường Chiềng Lề", 19.5, false)
	dept := score("phong-tu-phap", "department", "Phòng Tư pháp", 12.25, true)
	return &IndexSection{Period: p, City: city, Ranking: []svcindex.Score{ward, dept}}
}

// The report's index section: in the PDF (read back with pdftotext) the
// heading, the city's total, the six groups and the units ranked, in
// Vietnamese and in English; in the table, a row per unit, group and
// indicator, "not applicable" where an indicator does not apply.
func TestRenderIndexSection(t *testing.T) {
	r := sample()
	r.Period, _ = ParsePeriod("2021-H1")
	r.PeriodKey = "2021-H1"
	r.Index = indexSample()
	var buf bytes.Buffer
	if err := r.Write(&buf, "vi", CSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var idx []string
	for _, row := range rows {
		if row[0] == "service_index" {
			idx = append(idx, strings.Join(row, "|"))
		}
	}
	// The city, then the units ranked: 3 units × (total + 6 groups + 2 indicators)
	if len(idx) != 3*9 {
		t.Fatalf("%d index rows, want 27:\n%s", len(idx), strings.Join(idx, "\n"))
	}
	if !strings.HasPrefix(idx[0], "service_index|service_index.total|Tổng · từ 01/01 đến hết tháng 06 năm 2021|city|UBND thành phố Sơn La|82.87|||100|points|2021-06-30T17:00:00+07:00|82.87 %") {
		t.Errorf("city total row: %s", idx[0])
	}
	if want := "service_index|progress.on_time|Hồ sơ giải quyết đúng hạn|city|UBND thành phố Sơn La|17.72|393087|443565|20|points|2021-06-30T17:00:00+07:00|linear"; idx[4] != want {
		t.Errorf("indicator row:\n%s\nwant\n%s", idx[4], want)
	}
	if want := "service_index|publicity.synced|Hồ sơ đồng bộ lên Cổng Dịch vụ công quốc gia|phuong-chieng-le|UBND phường Chiềng Lề|||||points|2021-06-30T17:00:00+07:00|không áp dụng"; idx[11] != want {
		t.Errorf("a not-applicable indicator:\n%s\nwant\n%s", idx[11], want)
	}

	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext missing: apt-get install poppler-utils (make test-tools)")
	}
	dir := os.Getenv("IOC_SCREENSHOT_DIR") // to look at the pages (pdftoppm)
	if dir == "" {
		dir = t.TempDir()
	}
	for lang, want := range map[string][]string{
		"vi": {"IV. CHỈ SỐ PHỤC VỤ NGƯỜI DÂN, DOANH NGHIỆP (QĐ 766/QĐ-TTg)", "Kỳ chấm điểm: từ 01/01 đến hết tháng 06 năm 2021",
			"Tổng điểm của thành phố: 82,87 / 100,00", "Tiến độ giải quyết", "17,72", "Mức độ số hóa hồ sơ", "15,40", "70,0 %",
			"Xếp hạng các đơn vị theo tỷ lệ điểm đạt trên điểm tối đa", "UBND phường Chiềng Lề", "67,55/82", "82,4 %", "Phòng Tư pháp", "Nhóm 6", "không áp dụng"},
		"en": {"IV. SERVICE INDEX FOR CITIZENS AND BUSINESSES (DECISION 766/QĐ-TTg)", "Scoring period: 1 January to the end of June 2021",
			"The city's total: 82.87 / 100.00", "Progress", "17.72", "Digitisation", "Units ranked by their share of the maximum", "UBND phường Chiềng Lề",
			"Satisfaction", "not applicable"},
	} {
		buf.Reset()
		if err := r.Write(&buf, lang, PDF); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "report-index-"+lang+".pdf")
		if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", f, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		text := string(out)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s PDF: no %q in:\n%s", lang, w, text[strings.LastIndex(text, "IV."):])
			}
		}
		// The ranking in its order: the ward (67.55 of the 82 points that
		// apply to it: 82.4 %), then the department (77.40 of 100).
		sec := text[strings.LastIndex(text, "IV. "):]
		j, k := strings.Index(sec, "UBND phường Chiềng Lề"), strings.Index(sec, "Phòng Tư pháp")
		if j < 0 || j > k {
			t.Errorf("%s PDF: units out of order (%d, %d)", lang, j, k)
		}
	}
}
