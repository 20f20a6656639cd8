// Package report makes the leadership's report of the KPI tiles for a
// period (a month 2021-06, a quarter 2021-Q2, a half-year 2021-H1 or a year
// 2021) as PDF (A4, the city's header, Vietnamese set in the embedded
// DejaVu font), CSV or XLSX, in Vietnamese or English.
//
// The figures come from the KPI engine's own queries (stream/kpi), as of
// the end of the period or the feeds' newest event if that is earlier: the
// same parameters as the tiles, so a report of the current period shows
// exactly what the tiles show. Every tile has its figure, numerator,
// denominator and target, its trend over the period's months (the month-end
// points of the tile), its breakdowns (by main task, unit, field: the
// drill-downs of stream/kpi) and, when the published tile carries one, the
// note of a restated figure. With the service index engine the report has
// a section on the index of Decision 766/QĐ-TTg: the city's total, its six
// groups and the units ranked (index.go).
package report

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/kpi"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// Period is a reporting period: whole months of one year, city time.
type Period struct {
	Label      string    // 2021-H1, 2021-Q2, 2021-06, 2021
	Year       int       //
	FirstMonth int       // 1..12
	LastMonth  int       // 1..12
	From       time.Time // the first month's first instant
	End        time.Time // the last instant (ms) of the last month
}

var periodRe = regexp.MustCompile(`^(\d{4})(?:-(H[12]|Q[1-4]|\d{2}))?$`)

// ParsePeriod reads 2021-H1, 2021-Q2, 2021-06 or 2021.
func ParsePeriod(s string) (Period, error) {
	m := periodRe.FindStringSubmatch(s)
	if m == nil {
		return Period{}, fmt.Errorf("period %q: want YYYY-MM (2021-06), YYYY-Qn (2021-Q2), YYYY-Hn (2021-H1) or YYYY", s)
	}
	year, _ := strconv.Atoi(m[1])
	if year < 2000 || year > 2100 {
		return Period{}, fmt.Errorf("period %q: year outside 2000..2100", s)
	}
	p := Period{Label: s, Year: year, FirstMonth: 1, LastMonth: 12}
	switch k := m[2]; {
	case k == "":
	case k[0] == 'H':
		h := int(k[1] - '0')
		p.FirstMonth, p.LastMonth = 6*h-5, 6*h
	case k[0] == 'Q':
		q := int(k[1] - '0')
		p.FirstMonth, p.LastMonth = 3*q-2, 3*q
	default:
		mo, _ := strconv.Atoi(k)
		if mo < 1 || mo > 12 {
			return Period{}, fmt.Errorf("period %q: month outside 01..12", s)
		}
		p.FirstMonth, p.LastMonth = mo, mo
	}
	p.From = time.Date(year, time.Month(p.FirstMonth), 1, 0, 0, 0, 0, event.Location)
	p.End = time.Date(year, time.Month(p.LastMonth)+1, 1, 0, 0, 0, 0, event.Location).Add(-time.Millisecond)
	return p, nil
}

// Title names the period in a language ("6 tháng đầu năm 2021", "first half of 2021").
func (p Period) Title(lang string) string {
	en := lang == "en"
	switch {
	case p.FirstMonth == 1 && p.LastMonth == 12:
		return pick(en, "năm ", "year ") + strconv.Itoa(p.Year)
	case p.LastMonth-p.FirstMonth == 5 && p.FirstMonth == 1:
		return pick(en, "6 tháng đầu năm ", "first half of ") + strconv.Itoa(p.Year)
	case p.LastMonth-p.FirstMonth == 5:
		return pick(en, "6 tháng cuối năm ", "second half of ") + strconv.Itoa(p.Year)
	case p.LastMonth-p.FirstMonth == 2:
		q := strconv.Itoa((p.LastMonth) / 3)
		if en {
			return "Q" + q + " " + strconv.Itoa(p.Year)
		}
		return "quý " + romanQ[q] + " năm " + strconv.Itoa(p.Year)
	}
	if en {
		return time.Month(p.FirstMonth).String() + " " + strconv.Itoa(p.Year)
	}
	return fmt.Sprintf("tháng %02d năm %d", p.FirstMonth, p.Year)
}

var romanQ = map[string]string{"1": "I", "2": "II", "3": "III", "4": "IV"}

func pick(en bool, vi, e string) string {
	if en {
		return e
	}
	return vi
}

// Breakdown is one drill-down of a tile.
type Breakdown struct {
	By   string         `json:"by"`
	Rows []kpi.DrillRow `json:"rows"`
}

// Line is one tile of the report.
type Line struct {
	Tile       event.Tile    `json:"tile"`
	Trend      []event.Point `json:"trend"` // the month-end points inside the period
	Breakdowns []Breakdown   `json:"breakdowns"`
}

// Report is the report of every tile for a period.
type Report struct {
	Period    Period    `json:"-"`
	PeriodKey string    `json:"period"`
	AsOf      time.Time `json:"as_of"`
	Generated time.Time `json:"generated"`
	// Partial is set when the feeds' newest event is before the period's
	// end: the figures are as of that event.
	Partial bool   `json:"partial"`
	Lines   []Line `json:"lines"`
	// Index is the service index of QĐ 766 for the period (index.go), when
	// the source has the index engine.
	Index *IndexSection `json:"index,omitempty"`
}

// Source is what a report reads: the KPI engine's queries over ClickHouse,
// and optionally the tiles as published (for the notes of restated
// figures: a restatement is a fact of publication, not of the data).
type Source struct {
	Engine    *kpi.Engine
	Conn      driver.Conn
	Published []event.Tile
	// Index is the service index engine (stream/svcindex); nil leaves the
	// index section out.
	Index svcindex.Source
}

// ErrNoData is returned when no event falls in or before the period.
var ErrNoData = fmt.Errorf("no administrative events up to this period yet")

// Build computes the report of a period.
func Build(ctx context.Context, src Source, p Period, now time.Time) (*Report, error) {
	wm, ok, err := src.Engine.Watermark(ctx, src.Conn, now)
	if err != nil {
		return nil, err
	}
	if !ok || wm.Before(p.From) {
		return nil, fmt.Errorf("report %s: %w (newest event: %s)", p.Label, ErrNoData, wm.Format(time.RFC3339))
	}
	// As of the period's end, or of the newest event if that is earlier:
	// then the tiles' own as_of, so that the figures are the tiles'. The
	// period counts as not over when its last day has no event yet.
	asOf, partial := p.End, false
	if wm.Before(asOf) {
		lastDay := time.Date(p.Year, time.Month(p.LastMonth)+1, 0, 0, 0, 0, 0, event.Location)
		asOf, partial = wm, wm.Before(lastDay)
	}
	tiles, err := src.Engine.Compute(ctx, src.Conn, asOf)
	if err != nil {
		return nil, fmt.Errorf("computing the tiles as of %s: %w", asOf.Format(time.RFC3339), err)
	}
	published := map[string]event.Tile{}
	for _, t := range src.Published {
		published[t.ID] = t
	}
	r := &Report{Period: p, PeriodKey: p.Label, AsOf: asOf.In(event.Location), Generated: now.In(event.Location), Partial: partial}
	for _, t := range tiles {
		if pub, ok := published[t.ID]; ok && pub.AsOfMs == t.AsOfMs {
			t.Restated = pub.Restated
		}
		l := Line{Tile: t}
		for _, pt := range t.Series {
			if pt.Ms >= p.From.UnixMilli() && pt.Ms <= p.End.UnixMilli() {
				l.Trend = append(l.Trend, pt)
			}
		}
		for _, by := range kpi.Dimensions(t.ID) {
			if by == kpi.ByMonth {
				continue
			}
			rows, err := src.Engine.Drill(ctx, src.Conn, t.ID, by, asOf)
			if err != nil {
				return nil, err
			}
			l.Breakdowns = append(l.Breakdowns, Breakdown{By: by, Rows: rows})
		}
		r.Lines = append(r.Lines, l)
	}
	if src.Index != nil {
		if r.Index, err = buildIndex(ctx, src.Index, p); err != nil {
			return nil, err
		}
	}
	return r, nil
}
