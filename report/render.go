package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/export"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

// Formats of a report.
const (
	PDF  = "pdf"
	CSV  = "csv"
	XLSX = "xlsx"
)

// ContentType is the MIME type of a report format.
func ContentType(format string) string {
	switch format {
	case PDF:
		return "application/pdf"
	case XLSX:
		return export.XLSX.ContentType()
	}
	return export.CSV.ContentType()
}

// CheckOptions validates a language and a format.
func CheckOptions(lang, format string) error {
	if lang != "vi" && lang != "en" {
		return fmt.Errorf("language %q: want vi or en", lang)
	}
	if format != PDF && format != CSV && format != XLSX {
		return fmt.Errorf("format %q: want pdf, csv or xlsx", format)
	}
	return nil
}

// FileName is the report's file name: bao-cao-kpi-2021-H1-vi.pdf.
func (r *Report) FileName(lang, format string) string {
	base := "bao-cao-kpi-"
	if lang == "en" {
		base = "kpi-report-"
	}
	return base + r.PeriodKey + "-" + lang + "." + format
}

// Write renders the report.
func (r *Report) Write(w io.Writer, lang, format string) error {
	if err := CheckOptions(lang, format); err != nil {
		return err
	}
	if format == PDF {
		return r.writePDF(w, lang)
	}
	f := export.CSV
	if format == XLSX {
		f = export.XLSX
	}
	return r.writeTable(w, lang, f)
}

// text is the report's wording, Vietnamese and English.
var text = map[string][2]string{
	"committee":     {"UBND THÀNH PHỐ SƠN LA", "SON LA CITY PEOPLE'S COMMITTEE"},
	"country":       {"CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "SOCIALIST REPUBLIC OF VIET NAM"},
	"motto":         {"Độc lập - Tự do - Hạnh phúc", "Independence - Freedom - Happiness"},
	"title":         {"BÁO CÁO", "REPORT"},
	"subtitle":      {"Kết quả các chỉ số cải cách hành chính", "Administrative reform indicators"},
	"asof":          {"Số liệu tính đến", "Figures as of"},
	"generated":     {"Lập lúc", "Generated"},
	"partial":       {"Kỳ báo cáo chưa kết thúc: số liệu tính đến sự kiện mới nhất.", "The period has not ended: figures as of the newest event."},
	"summary":       {"I. TỔNG HỢP CÁC CHỈ SỐ", "I. SUMMARY OF THE INDICATORS"},
	"details":       {"II. CHI TIẾT TỪNG CHỈ SỐ", "II. EACH INDICATOR IN DETAIL"},
	"notes":         {"III. GHI CHÚ VỀ SỐ LIỆU ĐIỀU CHỈNH", "III. NOTES ON RESTATED FIGURES"},
	"no_notes":      {"Không có số liệu nào của các tháng đã khóa sổ được điều chỉnh.", "No figure of a closed month was restated."},
	"no":            {"TT", "No."},
	"indicator":     {"Chỉ số", "Indicator"},
	"result":        {"Kết quả", "Result"},
	"numden":        {"Tử số / mẫu số", "Numerator / denominator"},
	"target":        {"Mục tiêu", "Target"},
	"trend":         {"Diễn biến theo tháng (lũy kế từ 1/1 đến cuối tháng)", "Month by month (from 1 January to each month's end)"},
	"month":         {"Tháng", "Month"},
	"value":         {"Giá trị", "Value"},
	"numerator":     {"Tử số", "Numerator"},
	"denominator":   {"Mẫu số", "Denominator"},
	"by_unit":       {"Theo đơn vị", "By unit"},
	"by_field":      {"Theo lĩnh vực", "By field"},
	"by_main_task":  {"Theo nhiệm vụ trọng tâm", "By main task"},
	"by_month":      {"Theo tháng", "By month"},
	"restated":      {"Điều chỉnh số liệu tháng", "Restated months"},
	"was":           {"trước đó", "previously"},
	"page":          {"Trang", "Page"},
	"footer":        {"Trung tâm điều hành thông minh thành phố Sơn La · tính từ sự kiện của các hệ thống hành chính (docs/kpis.md)", "Son La City operations centre · computed from the administrative systems' events (docs/kpis.md)"},
	"billion":       {"tỷ đồng", "bn VND"},
	"none":          {"—", "—"},
	"section":       {"Phần", "Section"},
	"tile_id":       {"Mã chỉ số", "Indicator id"},
	"key":           {"Mã", "Key"},
	"label":         {"Tên", "Label"},
	"unit":          {"Đơn vị tính", "Unit"},
	"note":          {"Ghi chú", "Note"},
	"place":         {"Sơn La", "Son La"},
	"col_unit":      {"Đơn vị", "Unit"},
	"col_field":     {"Lĩnh vực", "Field"},
	"col_main_task": {"Nhiệm vụ trọng tâm", "Main task"},
}

func tr(lang, k string) string {
	v, ok := text[k]
	if !ok {
		return k
	}
	return inLang(lang, v[0], v[1])
}

// inLang is the English text for "en", the Vietnamese one otherwise: the
// one rule by which every label of the report is chosen.
func inLang(lang, vi, en string) string {
	if lang == "en" {
		return en
	}
	return vi
}

func label(lang string, t event.Tile) string { return inLang(lang, t.LabelVI, t.LabelEN) }

func rowLabel(lang string, r kpi.DrillRow) string { return inLang(lang, r.LabelVI, r.LabelEN) }

// num formats a number with the language's separators.
func num(v float64, digits int, lang string) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', digits, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	thou, dec := ".", ","
	if lang == "en" {
		thou, dec = ",", "."
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(thou)
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString(dec + frac)
	}
	if v < 0 && strings.Trim(s, "0.") != "" { // no "−0,0"
		return "−" + b.String()
	}
	return b.String()
}

// figure is a value as the tiles show it.
func figure(v *float64, shape, lang string) string {
	if v == nil {
		return "—"
	}
	switch shape {
	case string(kpi.Percent):
		return num(*v, 1, lang) + " %"
	case string(kpi.PercentChange):
		sign := "+"
		if *v < 0 {
			sign = "−"
		}
		return sign + num(math.Abs(*v), 1, lang) + " %"
	}
	return num(*v, 0, lang)
}

func amount(v float64, id, lang string) string {
	if strings.HasPrefix(id, "budget.") {
		return num(v/1e9, 1, lang) + " " + tr(lang, "billion")
	}
	return num(v, 0, lang)
}

func numDen(t event.Tile, n float64, d *float64, lang string) string {
	if d == nil {
		return amount(n, t.ID, lang)
	}
	return amount(n, t.ID, lang) + " / " + amount(*d, t.ID, lang)
}

func targetText(t event.Tile, lang string) string {
	if t.Target == nil {
		return "—"
	}
	if t.Unit == string(kpi.Count) {
		return num(*t.Target, 0, lang)
	}
	return num(*t.Target, 0, lang) + " %"
}

func when(t time.Time, lang string) string {
	t = t.In(event.Location)
	if lang == "en" {
		return t.Format("2 January 2006 15:04")
	}
	return t.Format("02/01/2006 15:04")
}

func restatedNote(t event.Tile, lang string) string {
	r := t.Restated
	if r == nil || len(r.Months) == 0 {
		return ""
	}
	var months []string
	for _, m := range r.Months {
		months = append(months, m[5:]+"/"+m[:4])
	}
	s := tr(lang, "restated") + " " + strings.Join(months, ", ") + " (" + when(time.UnixMilli(r.AtMs), lang) + ")"
	if r.PreviousValue != nil {
		s += "; " + tr(lang, "was") + " " + figure(r.PreviousValue, t.Unit, lang)
	}
	return s
}

// writeTable writes the report as one table (CSV or XLSX) with the same
// numbers as the tiles, unrounded: a row per tile, then its months and its
// breakdowns.
func (r *Report) writeTable(w io.Writer, lang string, f export.Format) error {
	header := []string{tr(lang, "section"), tr(lang, "tile_id"), tr(lang, "indicator"), tr(lang, "key"), tr(lang, "label"),
		tr(lang, "value"), tr(lang, "numerator"), tr(lang, "denominator"), tr(lang, "target"), tr(lang, "unit"),
		tr(lang, "asof"), tr(lang, "note")}
	ew, err := export.NewWriter(w, f, "KPI "+r.PeriodKey, header)
	if err != nil {
		return err
	}
	asOf := r.AsOf.Format(time.RFC3339)
	for _, l := range r.Lines {
		t := l.Tile
		if err := ew.Row("tile", t.ID, label(lang, t), "", "", t.Value, t.Numerator, t.Denominator, t.Target, t.Unit, asOf,
			restatedNote(t, lang)); err != nil {
			return err
		}
		for _, p := range l.Trend {
			if err := ew.Row("month", t.ID, label(lang, t), p.At[:7], p.At, p.Value, p.Numerator, p.Denominator, nil, t.Unit,
				time.UnixMilli(p.Ms).In(event.Location).Format(time.RFC3339), ""); err != nil {
				return err
			}
		}
		for _, b := range l.Breakdowns {
			for _, row := range b.Rows {
				if err := ew.Row(b.By, t.ID, label(lang, t), row.Key, rowLabel(lang, row), row.Value, row.Numerator, row.Denominator,
					nil, t.Unit, asOf, ""); err != nil {
					return err
				}
			}
		}
	}
	if err := r.indexRows(ew, lang); err != nil {
		return err
	}
	return ew.Close()
}
