package kpi

import (
	"math"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// The service index tiles carry the svcindex engine's city score, year to
// date, at every point (one way to compute it), and move when a late
// dossier of a closed month arrives.
func TestServiceIndexTiles(t *testing.T) {
	d := newDefsDB(t)
	d.add(t, unit(t, "ubnd-tp", "city", "2020-01-01 00:00"))
	dossier := func(id, rcv string, hours int) *event.Dossier {
		r := at(t, rcv)
		return &event.Dossier{DossierID: id, ProcedureCode: "P1", Unit: "ubnd-tp", Channel: "online", State: "resolved",
			At: rfc(r.Add(time.Duration(hours) * time.Hour)), ReceivedAt: rfc(r), DueAt: rfc(r.Add(48 * time.Hour))}
	}
	d.add(t, dossier("A", "2021-01-05 08:00", 2), dossier("B", "2021-02-03 08:00", 3))
	asOf := at(t, "2021-03-10 17:00")
	tiles := d.compute(t, asOf)
	idx, err := svcindex.New(svcindex.Config{}, d.ch, d.conn)
	if err != nil {
		t.Fatal(err)
	}
	want, err := idx.Score(d.ctx, svcindex.Period{Kind: svcindex.YTD, Key: "2021-YTD-03", Start: at(t, "2021-01-01 00:00"),
		End: asOf.Add(time.Millisecond)}, "")
	if err != nil {
		t.Fatal(err)
	}
	total := tiles["service_index.total"]
	if total.Value == nil || math.Abs(*total.Value-want.Total) > 1e-9 || total.Denominator == nil || *total.Denominator != want.Max {
		t.Fatalf("service_index.total %s/%v, engine %v/%v", val(total.Value), total.Denominator, want.Total, want.Max)
	}
	prog := tiles["service_index.progress"]
	if prog.Value == nil || *prog.Value != 20 || val(prog.Target) != "20" {
		t.Errorf("service_index.progress %s (target %s), want 20 of 20", val(prog.Value), val(prog.Target))
	}
	if len(total.Series) != 3 {
		t.Errorf("service_index.total has %d points, want January, February and as_of", len(total.Series))
	}
	feb := point(t, prog, "2021-02-28")
	if feb.Value == nil || *feb.Value != 20 {
		t.Errorf("February's progress %s, want 20", val(feb.Value))
	}
	// A dossier of February resolved late arrives in March.
	d.add(t, dossier("C", "2021-02-10 08:00", 72))
	again := d.compute(t, asOf)
	feb = point(t, again["service_index.progress"], "2021-02-28")
	// 20 × 2/3, rounded to the hundredth as the portal shows it
	if feb.Value == nil || math.Abs(*feb.Value-13.33) > 1e-9 {
		t.Errorf("February's progress after the late dossier %s, want 13.33", val(feb.Value))
	}
}
