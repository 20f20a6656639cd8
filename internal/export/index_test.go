package export

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// The index breakdown in a workbook: a row per unit for its total, per
// group and per indicator, both languages' names; an indicator that does
// not apply has empty figures, not zeros.
func TestWriteIndexXLSX(t *testing.T) {
	at := time.Date(2021, 6, 30, 17, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	p := svcindex.Period{Kind: svcindex.Month, Key: "2021-06"}
	sc := svcindex.Score{Unit: svcindex.Unit{ID: "phuong-chieng-le", Kind: "ward", Name: "UBND phường Chiềng Lề"}, Period: p, Total: 17.72, Max: 20, Percent: 88.5, AsOf: at,
		Groups: []svcindex.Group{
			{Code: "publicity", NameVI: "Công khai, minh bạch", NameEN: "Publicity", Max: 0, Indicators: []svcindex.Indicator{
				{Code: "publicity.published", NameVI: "Công bố đúng hạn", NameEN: "Published on time", Applies: false, Max: 6, Rule: "linear"}}},
			{Code: "progress", NameVI: "Tiến độ", NameEN: "Progress", Points: 17.72, Max: 20, Indicators: []svcindex.Indicator{
				{Code: "progress.on_time", NameVI: "Đúng hạn", NameEN: "On time", Applies: true, Numerator: 393087, Denominator: 443565,
					Rate: 393087.0 / 443565, Points: 17.72, Max: 20, Rule: "threshold", Threshold: 0.9}}},
		}}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, XLSX, "index", IndexHeader)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(w, []svcindex.Score{sc}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("index")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(rows))
	for i, r := range rows {
		got[i] = strings.Join(r, "|")
	}
	want := []string{
		strings.Join(IndexHeader, "|"),
		"2021-06|1|phuong-chieng-le|ward|UBND phường Chiềng Lề|total|total||Tổng điểm|Total|TRUE|||0.885|17.72|20||||2021-06-30 17:00:00",
		"2021-06|1|phuong-chieng-le|ward|UBND phường Chiềng Lề|group|publicity|publicity|Công khai, minh bạch|Publicity|TRUE||||0|0||||2021-06-30 17:00:00",
		"2021-06|1|phuong-chieng-le|ward|UBND phường Chiềng Lề|indicator|publicity.published|publicity|Công bố đúng hạn|Published on time|FALSE|||||6|linear|||2021-06-30 17:00:00",
		"2021-06|1|phuong-chieng-le|ward|UBND phường Chiềng Lề|group|progress|progress|Tiến độ|Progress|TRUE||||17.72|20||||2021-06-30 17:00:00",
		"2021-06|1|phuong-chieng-le|ward|UBND phường Chiềng Lề|indicator|progress.on_time|progress|Đúng hạn|On time|TRUE|393087|443565|0.886199316898312|17.72|20|threshold|0.9||2021-06-30 17:00:00",
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d:\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
}
