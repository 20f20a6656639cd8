package report

import (
	_ "embed"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The PDF's typeface: DejaVu Sans Condensed, from Debian's fonts-dejavu-core
// (Bitstream Vera licence, fonts/LICENSE.DejaVu: free to embed and
// redistribute), which has every Vietnamese letter with its diacritics.
// fpdf embeds only the glyphs used.
var (
	//go:embed fonts/DejaVuSansCondensed.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSansCondensed-Bold.ttf
	fontBold []byte
)

const (
	pageW    = 210.0
	margin   = 15.0
	contentW = pageW - 2*margin
	family   = "DejaVu"
)

func (r *Report) writePDF(w io.Writer, lang string) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(family, "", fontRegular)
	pdf.AddUTF8FontFromBytes(family, "B", fontBold)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, 18)
	pdf.SetTitle(tr(lang, "subtitle")+" "+r.Period.Title(lang), true)
	pdf.SetAuthor(tr(lang, "committee"), true)
	pdf.SetCreator("ioc report", true)
	pdf.SetCreationDate(r.Generated)
	pdf.SetModificationDate(r.Generated)
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-13)
		pdf.SetFont(family, "", 7.5)
		pdf.SetTextColor(90, 90, 90)
		pdf.CellFormat(contentW-25, 5, tr(lang, "footer"), "T", 0, "L", false, 0, "")
		pdf.CellFormat(25, 5, fmt.Sprintf("%s %d/{nb}", tr(lang, "page"), pdf.PageNo()), "T", 0, "R", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()
	r.pdfHeader(pdf, lang)
	r.pdfSummary(pdf, lang)
	r.pdfDetails(pdf, lang)
	r.pdfNotes(pdf, lang)
	r.pdfIndex(pdf, lang)
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("making the PDF: %w", err)
	}
	return pdf.Output(w)
}

// pdfHeader: the administrative header of a Vietnamese official document
// (the issuing body on the left, the national motto on the right), then the
// title.
func (r *Report) pdfHeader(pdf *fpdf.Fpdf, lang string) {
	left, right := 75.0, contentW-75.0
	y := pdf.GetY()
	pdf.SetFont(family, "B", 10.5)
	pdf.CellFormat(left, 5.5, tr(lang, "committee"), "", 0, "C", false, 0, "")
	pdf.CellFormat(right, 5.5, tr(lang, "country"), "", 1, "C", false, 0, "")
	pdf.SetFont(family, "B", 10)
	pdf.CellFormat(left, 5.5, "", "", 0, "C", false, 0, "")
	pdf.CellFormat(right, 5.5, tr(lang, "motto"), "", 1, "C", false, 0, "")
	// The short rules under the body's name and the motto.
	pdf.SetLineWidth(0.3)
	pdf.Line(margin+left/2-12, y+6.2, margin+left/2+12, y+6.2)
	mw := pdf.GetStringWidth(tr(lang, "motto"))
	pdf.Line(margin+left+right/2-mw/2, y+11.6, margin+left+right/2+mw/2, y+11.6)
	pdf.Ln(2)
	pdf.SetFont(family, "", 10)
	pdf.CellFormat(left, 5.5, "", "", 0, "C", false, 0, "")
	pdf.CellFormat(right, 5.5, placeDate(r.Generated, lang), "", 1, "C", false, 0, "")
	pdf.Ln(6)
	pdf.SetFont(family, "B", 15)
	pdf.CellFormat(contentW, 8, tr(lang, "title"), "", 1, "C", false, 0, "")
	pdf.SetFont(family, "B", 12)
	pdf.CellFormat(contentW, 6.5, tr(lang, "subtitle")+" "+r.Period.Title(lang), "", 1, "C", false, 0, "")
	pdf.SetFont(family, "", 9.5)
	pdf.CellFormat(contentW, 5.5, fmt.Sprintf("%s %s · %s %s", tr(lang, "asof"), when(r.AsOf, lang), tr(lang, "generated"),
		when(r.Generated, lang)), "", 1, "C", false, 0, "")
	if r.Partial {
		pdf.SetTextColor(150, 80, 0)
		pdf.CellFormat(contentW, 5, tr(lang, "partial"), "", 1, "C", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	}
	pdf.Ln(4)
}

func placeDate(t time.Time, lang string) string {
	t = t.In(event.Location)
	if lang == "en" {
		return "Son La, " + t.Format("2 January 2006")
	}
	return fmt.Sprintf("Sơn La, ngày %02d tháng %02d năm %d", t.Day(), int(t.Month()), t.Year())
}

func heading(pdf *fpdf.Fpdf, s string) {
	pdf.Ln(2)
	pdf.SetFont(family, "B", 11.5)
	pdf.CellFormat(contentW, 7, s, "", 1, "L", false, 0, "")
}

// table draws a table with a header row; widths add up to contentW.
// Rows that do not fit move to the next page with the header again.
func table(pdf *fpdf.Fpdf, widths []float64, aligns string, header []string, rows [][]string) {
	drawHeader := func() {
		pdf.SetFont(family, "B", 8.5)
		pdf.SetFillColor(226, 234, 243)
		for i, h := range header {
			pdf.CellFormat(widths[i], 6, h, "1", 0, "C", true, 0, "")
		}
		pdf.Ln(-1)
		pdf.SetFont(family, "", 8.5)
	}
	drawHeader()
	_, pageH := pdf.GetPageSize()
	_, _, _, bottom := pdf.GetMargins()
	_ = bottom
	for _, row := range rows {
		// Height: the tallest wrapped cell.
		lines := 1
		for i, c := range row {
			if n := len(pdf.SplitText(c, widths[i]-2)); n > lines {
				lines = n
			}
		}
		h := 4.6 * float64(lines)
		if pdf.GetY()+h > pageH-18 {
			pdf.AddPage()
			drawHeader()
		}
		x, y := pdf.GetX(), pdf.GetY()
		for i, c := range row {
			pdf.Rect(x, y, widths[i], h+1.2, "D")
			pdf.SetXY(x, y+0.6)
			pdf.MultiCell(widths[i], 4.6, c, "", string(aligns[i]), false)
			x += widths[i]
		}
		pdf.SetXY(margin, y+h+1.2)
	}
	pdf.Ln(2)
}

func (r *Report) pdfSummary(pdf *fpdf.Fpdf, lang string) {
	heading(pdf, tr(lang, "summary"))
	var rows [][]string
	for i, l := range r.Lines {
		t := l.Tile
		rows = append(rows, []string{strconv.Itoa(i + 1), label(lang, t), figure(t.Value, t.Unit, lang),
			numDen(t, t.Numerator, t.Denominator, lang), targetText(t, lang)})
	}
	table(pdf, []float64{9, 78, 22, 53, 18}, "CLRRR",
		[]string{tr(lang, "no"), tr(lang, "indicator"), tr(lang, "result"), tr(lang, "numden"), tr(lang, "target")}, rows)
}

func (r *Report) pdfDetails(pdf *fpdf.Fpdf, lang string) {
	heading(pdf, tr(lang, "details"))
	for i, l := range r.Lines {
		t := l.Tile
		_, pageH := pdf.GetPageSize()
		if pdf.GetY() > pageH-70 {
			pdf.AddPage()
		}
		pdf.SetFont(family, "B", 10)
		pdf.MultiCell(contentW, 5.5, fmt.Sprintf("%d. %s", i+1, label(lang, t)), "", "L", false)
		pdf.SetFont(family, "", 9)
		line := fmt.Sprintf("%s: %s   ·   %s: %s   ·   %s: %s", tr(lang, "result"), figure(t.Value, t.Unit, lang),
			tr(lang, "numden"), numDen(t, t.Numerator, t.Denominator, lang), tr(lang, "target"), targetText(t, lang))
		pdf.MultiCell(contentW, 5, line, "", "L", false)
		if n := restatedNote(t, lang); n != "" {
			pdf.SetTextColor(150, 80, 0)
			pdf.MultiCell(contentW, 5, n, "", "L", false)
			pdf.SetTextColor(0, 0, 0)
		}
		if len(l.Trend) > 0 {
			pdf.SetFont(family, "", 8.5)
			pdf.CellFormat(contentW, 5, tr(lang, "trend"), "", 1, "L", false, 0, "")
			var rows [][]string
			for _, p := range l.Trend {
				rows = append(rows, []string{p.At[5:7] + "/" + p.At[:4], figure(p.Value, t.Unit, lang), numDen(t, p.Numerator, p.Denominator, lang)})
			}
			table(pdf, []float64{30, 40, 110}, "CRR", []string{tr(lang, "month"), tr(lang, "value"), tr(lang, "numden")}, rows)
		}
		for _, b := range l.Breakdowns {
			pdf.SetFont(family, "", 8.5)
			pdf.CellFormat(contentW, 5, tr(lang, "by_"+b.By), "", 1, "L", false, 0, "")
			var rows [][]string
			for _, row := range b.Rows {
				name := rowLabel(lang, row)
				if b.By == "main_task" {
					name = row.Key + ". " + name
				}
				rows = append(rows, []string{name, figure(row.Value, t.Unit, lang), numDen(t, row.Numerator, row.Denominator, lang)})
			}
			table(pdf, []float64{90, 30, 60}, "LRR", []string{tr(lang, "col_"+b.By), tr(lang, "value"), tr(lang, "numden")}, rows)
		}
		pdf.Ln(2)
	}
}

func (r *Report) pdfNotes(pdf *fpdf.Fpdf, lang string) {
	heading(pdf, tr(lang, "notes"))
	pdf.SetFont(family, "", 9)
	var notes []string
	for _, l := range r.Lines {
		if n := restatedNote(l.Tile, lang); n != "" {
			notes = append(notes, "• "+label(lang, l.Tile)+": "+n)
		}
	}
	if len(notes) == 0 {
		notes = []string{tr(lang, "no_notes")}
	}
	pdf.MultiCell(contentW, 5, strings.Join(notes, "\n"), "", "L", false)
}
