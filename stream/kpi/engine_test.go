package kpi

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

func day(t *testing.T, ms int64) string {
	t.Helper()
	return time.UnixMilli(ms).In(event.Location).Format("2006-01-02 15:04:05.000")
}

// The points of a computation are the ends of the months before as_of's,
// in city time, then as_of; last year's are the same calendar times (29
// February 2020 included).
func TestParamsPoints(t *testing.T) {
	asOf := time.Date(2021, 6, 30, 17, 0, 0, 0, event.Location)
	p := NewParams("ioc", asOf)
	want := []string{"2021-01-31 23:59:59.999", "2021-02-28 23:59:59.999", "2021-03-31 23:59:59.999", "2021-04-30 23:59:59.999",
		"2021-05-31 23:59:59.999", "2021-06-30 17:00:00.000"}
	if len(p.points) != len(want) {
		t.Fatalf("%d points, want %d", len(p.points), len(want))
	}
	for i, ms := range p.points {
		if got := day(t, ms); got != want[i] {
			t.Errorf("point %d = %s, want %s", i, got, want[i])
		}
	}
	if !strings.Contains(p.PrevPoints, "1582995599999") { // 2020-02-29 23:59:59.999 +07:00
		t.Errorf("last year's February ends on the 29th: %s", p.PrevPoints)
	}
	if day(t, p.From) != "2021-01-01 00:00:00.000" || day(t, p.PrevFrom) != "2020-01-01 00:00:00.000" || p.Year != 2021 {
		t.Errorf("from %s, prev %s, year %d", day(t, p.From), day(t, p.PrevFrom), p.Year)
	}
	jan := NewParams("ioc", time.Date(2021, 1, 20, 9, 0, 0, 0, event.Location))
	if len(jan.points) != 1 || jan.points[0] != jan.AsOf {
		t.Errorf("in January the only point is as_of: %v", jan.points)
	}
}

func pt(at string, ms int64, num float64) event.Point {
	v := num
	return event.Point{At: at, Ms: ms, Value: &v, Numerator: num}
}

func tile(asOf int64, label string, pts ...event.Point) *event.Tile {
	t := &event.Tile{ID: "x", AsOfMs: asOf, Period: event.Period{Label: label}, Series: pts}
	t.Value = pts[len(pts)-1].Value
	return t
}

// Restatements: a closed month that changed against the baseline, and
// nothing else.
func TestRestate(t *testing.T) {
	may := time.Date(2021, 5, 31, 23, 59, 59, 999e6, event.Location).UnixMilli()
	asOf := time.Date(2021, 6, 30, 17, 0, 0, 0, event.Location).UnixMilli()
	base := tile(asOf, "2021", pt("2021-05-31", may, 10), pt("2021-06-30", asOf, 20))
	old := &event.Restatement{AtMs: 1, Months: []string{"2021-02"}}
	base.Restated = old
	for _, c := range []struct {
		name   string
		base   *event.Tile
		prev   *event.Tile
		cur    *event.Tile
		months []string
		keepAt int64
	}{
		{"nothing shown before", nil, nil, tile(asOf, "2021", pt("2021-05-31", may, 11), pt("2021-06-30", asOf, 21)), nil, 0},
		{"only the open month changed: the old restatement stays", base, base, tile(asOf, "2021", pt("2021-05-31", may, 10), pt("2021-06-30", asOf, 21)), []string{"2021-02"}, 1},
		{"a closed month changed", base, base, tile(asOf, "2021", pt("2021-05-31", may, 11), pt("2021-06-30", asOf, 21)), []string{"2021-05"}, 0},
		{"a new period", base, base, tile(asOf, "2022", pt("2021-05-31", may, 11), pt("2021-06-30", asOf, 21)), nil, 0},
	} {
		Restate(c.base, c.prev, c.cur, 99)
		r := c.cur.Restated
		switch {
		case c.months == nil && r != nil:
			t.Errorf("%s: restated %+v", c.name, r)
		case c.months != nil && (r == nil || strings.Join(r.Months, ",") != strings.Join(c.months, ",")):
			t.Errorf("%s: restated %+v, want months %v", c.name, r, c.months)
		case c.keepAt != 0 && r.AtMs != c.keepAt:
			t.Errorf("%s: restatement time %d, want %d", c.name, r.AtMs, c.keepAt)
		case c.name == "a closed month changed" && (r.AtMs != 99 || *r.PreviousValue != 20 || r.Previous[0].Numerator != 10):
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	// The same restatement computed again keeps its time.
	cur := tile(asOf, "2021", pt("2021-05-31", may, 11), pt("2021-06-30", asOf, 21))
	Restate(base, base, cur, 99)
	again := tile(asOf, "2021", pt("2021-05-31", may, 11), pt("2021-06-30", asOf, 22))
	Restate(base, cur, again, 150)
	if again.Restated.AtMs != 99 {
		t.Errorf("an unchanged restatement got a new time: %d", again.Restated.AtMs)
	}
}

// Every tile has a query that names it, every query renders, and nothing
// is left unrendered.
func TestQueriesRender(t *testing.T) {
	ch := chconn.Config{Database: "ioc"}
	ch.Defaults()
	e, err := NewEngine(Config{}, kafkaconn.Config{}, ch, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := NewParams("ioc", time.Date(2021, 6, 30, 17, 0, 0, 0, event.Location))
	files := append(Queries(), "watermark.sql")
	for i, q := range Queries() {
		files[i] = q + ".sql"
	}
	for _, d := range Defs {
		if d.External {
			continue
		}
		if d.Breakdown != nil {
			files = append(files, d.ID+".breakdown.sql")
		}
		body, _ := SQL(d.Query + ".sql")
		if !strings.Contains(body, "'"+d.ID+"'") {
			t.Errorf("sql/%s.sql never names tile %s", d.Query, d.ID)
		}
	}
	for _, f := range files {
		q, err := e.Render(f, p)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.Contains(q, "<no value>") || strings.Contains(q, "{{") {
			t.Errorf("%s renders incompletely:\n%s", f, q)
		}
	}
	// Cluster mode reads the Distributed tables.
	cl := chconn.Config{Database: "ioc", Cluster: "sonla"}
	cl.Defaults()
	ec, _ := NewEngine(Config{}, kafkaconn.Config{}, cl, slog.New(slog.DiscardHandler), nil)
	if q, _ := ec.Render("dossiers.sql", p); !strings.Contains(q, "ioc.dossier_events_raw_all") {
		t.Errorf("cluster mode does not read dossier_events_raw_all")
	}
}

// docs/kpis.md quotes every query file verbatim, so the documented SQL is
// the SQL that computes the tiles.
func TestDocsQuoteTheSQL(t *testing.T) {
	doc, err := os.ReadFile("../../docs/kpis.md")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := sqlFS.ReadDir("sql")
	for _, n := range names {
		body, _ := SQL(n.Name())
		if !strings.Contains(string(doc), "```sql\n"+body+"```") {
			t.Errorf("docs/kpis.md does not quote sql/%s verbatim (in a ```sql block); copy it from stream/kpi/sql/", n.Name())
		}
	}
	for _, d := range Defs {
		if !strings.Contains(string(doc), "`"+d.ID+"`") {
			t.Errorf("docs/kpis.md does not document tile %s", d.ID)
		}
	}
}
