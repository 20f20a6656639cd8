package report

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/export"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// The report's section on the service index of Decision 766/QĐ-TTg
// (stream/svcindex, docs/service-index.md): the city's total out of 100,
// its six groups, and every unit ranked (by its share of the points that
// apply to it, as svcindex.Ranking does), for the index period that
// matches the report's period (IndexPeriodOf).

// IndexSection is the service index part of a report.
type IndexSection struct {
	Period  svcindex.Period  `json:"period"`
	City    svcindex.Score   `json:"city"`
	Ranking []svcindex.Score `json:"ranking"`
}

// IndexPeriodOf is the index period of a report period: the same month or
// quarter; a half-year or a year is scored from 1 January to its last
// month (the portal scores the year to date).
func IndexPeriodOf(p Period) svcindex.Period {
	switch {
	case p.FirstMonth == p.LastMonth:
		return svcindex.MonthPeriod(p.Year, time.Month(p.LastMonth))
	case p.LastMonth-p.FirstMonth == 2:
		return svcindex.QuarterPeriod(p.Year, p.LastMonth/3)
	}
	return svcindex.YTDPeriod(p.Year, time.Month(p.LastMonth))
}

// IndexPeriodTitle names an index period in a language.
func IndexPeriodTitle(p svcindex.Period, lang string) string {
	en := lang == "en"
	last := p.End.In(event.Location).AddDate(0, 0, -1)
	y, m := last.Year(), int(last.Month())
	switch p.Kind {
	case svcindex.Quarter:
		q := strconv.Itoa((m + 2) / 3)
		if en {
			return "Q" + q + " " + strconv.Itoa(y)
		}
		return "quý " + romanQ[q] + " năm " + strconv.Itoa(y)
	case svcindex.YTD:
		if en {
			return "1 January to the end of " + time.Month(m).String() + " " + strconv.Itoa(y)
		}
		return fmt.Sprintf("từ 01/01 đến hết tháng %02d năm %d", m, y)
	}
	if en {
		return time.Month(m).String() + " " + strconv.Itoa(y)
	}
	return fmt.Sprintf("tháng %02d năm %d", m, y)
}

// buildIndex reads the index section of a report period.
func buildIndex(ctx context.Context, src svcindex.Source, p Period) (*IndexSection, error) {
	ip := IndexPeriodOf(p)
	city, err := src.Score(ctx, ip, "city")
	if err != nil {
		return nil, fmt.Errorf("service index of the city for %s: %w", ip.Key, err)
	}
	ranking, err := src.Ranking(ctx, ip)
	if err != nil {
		return nil, fmt.Errorf("service index ranking for %s: %w", ip.Key, err)
	}
	return &IndexSection{Period: ip, City: city, Ranking: ranking}, nil
}

// groupPoints is a group's points in a score, and whether it has that group.
func groupPoints(s svcindex.Score, code string) (svcindex.Group, bool) {
	for _, g := range s.Groups {
		if g.Code == code {
			return g, true
		}
	}
	return svcindex.Group{}, false
}

// groupEmpty says why a group has no maximum: none of its indicators
// applies to the unit, or those that apply have nothing to count yet.
func groupEmpty(g svcindex.Group, lang string) string {
	for _, in := range g.Indicators {
		if in.Applies {
			return tr(lang, "idx_nodata")
		}
	}
	return tr(lang, "idx_na")
}

func groupName(lang string, g svcindex.Group) string { return inLang(lang, g.NameVI, g.NameEN) }

func indicatorName(lang string, i svcindex.Indicator) string {
	return inLang(lang, i.NameVI, i.NameEN)
}

// indexGroups are the six groups' codes, in the engine's order (the KPI
// board's and the page's).
var indexGroups = func() []string {
	var out []string
	for _, g := range svcindex.Groups {
		out = append(out, g.Code)
	}
	return out
}()

// points formats points with two decimals (the portal's precision).
func points(v float64, lang string) string { return num(v, 2, lang) }

// indexScores are the scores of the section: the city first when the
// ranking leaves it out, then the ranking.
func (x *IndexSection) scores() []svcindex.Score {
	for _, s := range x.Ranking {
		if s.Unit.ID == x.City.Unit.ID {
			return x.Ranking
		}
	}
	return append([]svcindex.Score{x.City}, x.Ranking...)
}

// indexRows adds the index to the report's table: per unit its total, its
// groups and its indicators (value = points, target = the maximum).
func (r *Report) indexRows(ew *export.Writer, lang string) error {
	x := r.Index
	if x == nil {
		return nil
	}
	const section = "service_index" // a code, like "tile" and "month"
	for _, s := range x.scores() {
		asOf := s.AsOf.In(event.Location).Format(time.RFC3339)
		if err := ew.Row(section, "service_index.total", tr(lang, "idx_total_col")+" · "+IndexPeriodTitle(x.Period, lang), s.Unit.ID, s.Unit.Name,
			s.Total, nil, nil, s.Max, "points", asOf, num(s.Percent, 2, "en")+" %"); err != nil {
			return err
		}
		for _, g := range s.Groups {
			if err := ew.Row(section, "service_index."+g.Code, groupName(lang, g), s.Unit.ID, s.Unit.Name, g.Points, nil, nil, g.Max,
				"points", asOf, ""); err != nil {
				return err
			}
			for _, in := range g.Indicators {
				if !in.Applies {
					if err := ew.Row(section, in.Code, indicatorName(lang, in), s.Unit.ID, s.Unit.Name, nil, nil, nil, nil, "points", asOf,
						tr(lang, "idx_na")); err != nil {
						return err
					}
					continue
				}
				note := in.Rule
				if in.Rule == "threshold" {
					note += " " + num(in.Threshold*100, 0, lang) + " %"
				}
				if err := ew.Row(section, in.Code, indicatorName(lang, in), s.Unit.ID, s.Unit.Name, in.Points, in.Numerator, in.Denominator,
					in.Max, "points", asOf, note); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pdfIndex is the PDF's section on the index: the city's total, its six
// groups, and the units ranked with their groups' points.
func (r *Report) pdfIndex(pdf *fpdf.Fpdf, lang string) {
	x := r.Index
	if x == nil {
		return
	}
	_, pageH := pdf.GetPageSize()
	if pdf.GetY() > pageH-90 {
		pdf.AddPage()
	}
	heading(pdf, tr(lang, "idx_heading"))
	pdf.SetFont(family, "", 9.5)
	pdf.MultiCell(contentW, 5, fmt.Sprintf("%s: %s · %s %s", tr(lang, "idx_period"), IndexPeriodTitle(x.Period, lang),
		tr(lang, "asof"), when(x.City.AsOf, lang)), "", "L", false)
	pdf.SetFont(family, "B", 12)
	pdf.CellFormat(contentW, 8, fmt.Sprintf("%s: %s / %s", tr(lang, "idx_total"), points(x.City.Total, lang), points(x.City.Max, lang)),
		"", 1, "L", false, 0, "")
	pdf.SetFont(family, "", 8.5)
	pdf.CellFormat(contentW, 5, tr(lang, "idx_groups"), "", 1, "L", false, 0, "")
	var rows [][]string
	for i, code := range indexGroups {
		g, ok := groupPoints(x.City, code)
		if !ok {
			continue
		}
		if g.Max == 0 {
			rows = append(rows, []string{strconv.Itoa(i + 1), groupName(lang, g), groupEmpty(g, lang), "—", "—"})
			continue
		}
		rows = append(rows, []string{strconv.Itoa(i + 1), groupName(lang, g), points(g.Points, lang), points(g.Max, lang),
			num(g.Points/g.Max*100, 1, lang) + " %"})
	}
	table(pdf, []float64{9, 101, 25, 25, 20}, "CLRRR",
		[]string{tr(lang, "no"), tr(lang, "idx_group"), tr(lang, "idx_points"), tr(lang, "idx_max"), tr(lang, "idx_share")}, rows)

	pdf.SetFont(family, "", 8.5)
	pdf.CellFormat(contentW, 5, tr(lang, "idx_ranking"), "", 1, "L", false, 0, "")
	if len(x.Ranking) == 0 {
		pdf.MultiCell(contentW, 5, tr(lang, "idx_none"), "", "L", false)
		return
	}
	// The groups are numbered as in the table above: their names do not
	// fit six narrow columns.
	header := []string{tr(lang, "idx_rank"), tr(lang, "idx_unit"), tr(lang, "idx_total_col"), tr(lang, "idx_share")}
	widths := []float64{9, 50, 17, 14}
	aligns := "CLRR"
	for i := range indexGroups {
		header = append(header, tr(lang, "idx_gn")+" "+strconv.Itoa(i+1))
		widths = append(widths, 15)
		aligns += "R"
	}
	rows = rows[:0]
	for i, s := range x.Ranking {
		row := []string{strconv.Itoa(i + 1), s.Unit.Name, "—", "—"}
		if s.Max > 0 {
			row[2], row[3] = points(s.Total, lang)+"/"+num(s.Max, 0, lang), num(s.Percent, 1, lang)+" %"
		}
		for _, code := range indexGroups {
			g, ok := groupPoints(s, code)
			switch {
			case !ok || g.Max == 0:
				row = append(row, "—")
			default:
				row = append(row, points(g.Points, lang))
			}
		}
		rows = append(rows, row)
	}
	table(pdf, widths, aligns, header, rows)
	pdf.SetFont(family, "", 8)
	pdf.MultiCell(contentW, 4.5, "— "+tr(lang, "idx_na")+" / "+tr(lang, "idx_nodata")+". "+tr(lang, "idx_note"), "", "L", false)
}

// indexText is the wording of the index section, added to the report's text.
var indexText = map[string][2]string{
	"idx_heading":   {"IV. CHỈ SỐ PHỤC VỤ NGƯỜI DÂN, DOANH NGHIỆP (QĐ 766/QĐ-TTg)", "IV. SERVICE INDEX FOR CITIZENS AND BUSINESSES (DECISION 766/QĐ-TTg)"},
	"idx_period":    {"Kỳ chấm điểm", "Scoring period"},
	"idx_total":     {"Tổng điểm của thành phố", "The city's total"},
	"idx_groups":    {"Điểm theo nhóm chỉ số", "Points by group"},
	"idx_group":     {"Nhóm chỉ số", "Group"},
	"idx_points":    {"Điểm", "Points"},
	"idx_max":       {"Điểm tối đa", "Maximum"},
	"idx_share":     {"Tỷ lệ đạt", "Share"},
	"idx_ranking":   {"Xếp hạng các đơn vị theo tỷ lệ điểm đạt trên điểm tối đa (nhóm 1–6 như bảng trên)", "Units ranked by their share of the maximum (groups 1–6 as above)"},
	"idx_rank":      {"Hạng", "Rank"},
	"idx_unit":      {"Đơn vị", "Unit"},
	"idx_total_col": {"Tổng", "Total"},
	"idx_na":        {"không áp dụng", "not applicable"},
	"idx_nodata":    {"chưa có số liệu", "no data yet"},
	"idx_none":      {"Chưa có đơn vị nào được chấm điểm trong kỳ.", "No unit was scored in the period."},
	"idx_note":      {"Điểm tối đa chỉ gồm các chỉ số áp dụng cho đơn vị; cách tính: docs/service-index.md", "The maximum counts only the indicators that apply to the unit; formulas: docs/service-index.md"},
	"idx_gn":        {"Nhóm", "Group"},
}

func init() {
	for k, v := range indexText {
		text[k] = v
	}
}
