package svcindex_test

import (
	"math"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// (c) The H1-2021 scenario carries the index fields: its progress score
// follows from the report's "no dossier late" (20 points: every dossier
// resolved in 2021 was on time and every open one is within its
// deadline), and every indicator of the city has data to score.
func TestH12021Index(t *testing.T) {
	sc := simulate.H12021()
	if sc.Figures.DossiersLate != 0 {
		t.Fatalf("the scenario has %d late dossiers; the report says none", sc.Figures.DossiersLate)
	}
	d := newIndexDB(t, svcindex.Config{}, sc.AsOf)
	evs := make([]event.AdminEvent, len(sc.Events))
	for i, e := range sc.Events {
		evs[i] = e.Event
	}
	d.add(t, evs...)
	start := time.Now()
	s, err := d.e.Score(d.ctx, svcindex.YTDPeriod(2021, 6), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one score of the city: %s", time.Since(start))
	p := indicator(t, s, "progress.on_time")
	f := sc.Figures
	if p.Numerator != float64(f.DossiersOnTime+f.DossiersOpen) || p.Denominator != float64(f.DossiersResolved+f.DossiersOpen) || p.Points != 20 {
		t.Errorf("progress: %v/%v, %v points; want %d/%d (on time + open within deadline), 20 points", p.Numerator, p.Denominator, p.Points,
			f.DossiersOnTime+f.DossiersOpen, f.DossiersResolved+f.DossiersOpen)
	}
	for _, g := range s.Groups {
		for _, ind := range g.Indicators {
			if !ind.Applies || ind.NoData {
				t.Errorf("city %s: applies %v, no data %v; the scenario should give it data", ind.Code, ind.Applies, ind.NoData)
			}
		}
	}
	if s.Max != 100 || s.Total <= 50 || s.Total > 100 {
		t.Errorf("city total %v of %v", s.Total, s.Max)
	}
	t.Logf("H1 2021, city: %.2f / %.0f", s.Total, s.Max)
	for _, g := range s.Groups {
		t.Logf("  %-13s %5.2f / %2.0f", g.Code, g.Points, g.Max)
	}
	rank, err := d.e.Ranking(d.ctx, svcindex.YTDPeriod(2021, 6))
	if err != nil {
		t.Fatal(err)
	}
	if len(rank) < 13 || math.IsNaN(rank[0].Percent) {
		t.Errorf("ranking of %d units", len(rank))
	}
}
