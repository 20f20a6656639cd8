package svcindex_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

func indicator(t *testing.T, s svcindex.Score, code string) svcindex.Indicator {
	t.Helper()
	for _, g := range s.Groups {
		for _, ind := range g.Indicators {
			if ind.Code == code {
				return ind
			}
		}
	}
	t.Fatalf("score of %s has no indicator %s", s.Unit.ID, code)
	return svcindex.Indicator{}
}

func group(t *testing.T, s svcindex.Score, code string) svcindex.Group {
	t.Helper()
	for _, g := range s.Groups {
		if g.Code == code {
			return g
		}
	}
	t.Fatalf("score of %s has no group %s", s.Unit.ID, code)
	return svcindex.Group{}
}

// (b) The province breakdown the issue quotes from the portal: 393,087
// dossiers handled on time of 443,565 gives 17.72 progress points. The
// scenario has exactly those dossiers, at full size, resolved in one month.
func TestPublishedProgressBreakdown(t *testing.T) {
	if testing.Short() {
		t.Skip("443,565 dossiers")
	}
	d := newIndexDB(t, svcindex.Config{}, city(2026, 12, 1, 0))
	const onTime, total = 393087, 443565
	d.add(t, regUnit("tinh", "city"))
	// Written by the server (443,565 rows through the client take minutes
	// on the shared machine): dossier i is received on 1 November plus i
	// minutes modulo 20,000, due 72 h later, resolved after 24 h, or after
	// 73 h from the 393,088th on. Every other column keeps its default.
	rcv0 := city(2026, 11, 1, 8).UnixMilli()
	q := fmt.Sprintf(`INSERT INTO %s (event_id, dossier_id, procedure_code, unit, channel, state, at, at_ms,
	        received_at, received_ms, due_at, due_ms, version, source, ingested_ms, kafka_partition, kafka_offset)
	    SELECT concat('e', toString(number)), concat('H50-', toString(number)), '1.000001.000.00.00.H50', 'tinh', 'online', 'resolved',
	           toDateTime(intDiv(at_ms, 1000)), at_ms, toDateTime(intDiv(rcv, 1000)), rcv, toDateTime(intDiv(due, 1000)), due,
	           at_ms, 'test', at_ms, 0, 0
	    FROM (SELECT number, %d + (number %% 20000) * 60000 AS rcv, rcv + 72 * 3600000 AS due,
	                 if(number < %d, rcv + 24 * 3600000, due + 3600000) AS at_ms
	          FROM system.numbers LIMIT %d)`, d.ch.Table("dossier_events_raw"), rcv0, onTime, total)
	if err := d.conn.Exec(d.ctx, q); err != nil {
		t.Fatal(err)
	}
	s, err := d.e.Score(d.ctx, svcindex.MonthPeriod(2026, 11), "")
	if err != nil {
		t.Fatal(err)
	}
	ind := indicator(t, s, "progress.on_time")
	if ind.Numerator != onTime || ind.Denominator != total {
		t.Errorf("progress: %v of %v, want %d of %d", ind.Numerator, ind.Denominator, onTime, total)
	}
	if math.Abs(ind.Points-17.72) > 0.02 {
		t.Errorf("progress: %.4f points, the portal published 17.72", ind.Points)
	}
	t.Logf("progress.on_time: %v/%v = %.4f%% → %.4f points (published 17.72)", ind.Numerator, ind.Denominator, ind.Rate*100, ind.Points)
}

// (d) A late event restates the score of a closed month: a dossier of
// February resolved late, reported in April, lowers February's progress
// and flags the score as restated.
func TestLateEventRestatesTheScore(t *testing.T) {
	now := city(2026, 4, 15, 0)
	d := newIndexDB(t, svcindex.Config{}, now)
	d.add(t, regUnit("ubnd-tp", "city"), regUnit("phuong-chieng-le", "ward"))
	for i := range 4 {
		rcv := city(2026, 2, 2+i, 8)
		d.add(t, &event.Dossier{DossierID: fmt.Sprintf("D-%d", i), ProcedureCode: "P1", Unit: "phuong-chieng-le", Channel: "online",
			State: "resolved", At: ts(rcv.Add(24 * time.Hour)), ReceivedAt: ts(rcv), DueAt: ts(rcv.Add(48 * time.Hour))})
	}
	feb := svcindex.MonthPeriod(2026, 2)
	before, err := d.e.Score(d.ctx, feb, "phuong-chieng-le")
	if err != nil {
		t.Fatal(err)
	}
	if p := indicator(t, before, "progress.on_time"); p.Points != 20 || before.Restated {
		t.Fatalf("before: progress %v points, restated %v; want 20, false", p.Points, before.Restated)
	}
	rcv := city(2026, 2, 20, 8)
	d.add(t, &event.Dossier{DossierID: "D-late", ProcedureCode: "P1", Unit: "phuong-chieng-le", Channel: "in_person",
		State: "resolved", At: ts(rcv.Add(72 * time.Hour)), ReceivedAt: ts(rcv), DueAt: ts(rcv.Add(48 * time.Hour))})
	after, err := d.e.Score(d.ctx, feb, "phuong-chieng-le")
	if err != nil {
		t.Fatal(err)
	}
	p := indicator(t, after, "progress.on_time")
	if p.Numerator != 4 || p.Denominator != 5 || math.Abs(p.Points-16) > 1e-9 {
		t.Errorf("after the late event: %v/%v, %v points; want 4/5, 16", p.Numerator, p.Denominator, p.Points)
	}
	if !after.Restated || after.Total >= before.Total {
		t.Errorf("after the late event: total %v (before %v), restated %v; want lower and restated", after.Total, before.Total, after.Restated)
	}
	// The dossier that cost the points is in the drill-down, and only it.
	costly, err := d.e.Costly(d.ctx, feb, "phuong-chieng-le", "late", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(costly) != 1 || costly[0].ID != "D-late" || costly[0].Reason != "late" || !costly[0].ReceivedAt.Equal(rcv) {
		t.Errorf("costly late dossiers: %+v, want D-late", costly)
	}
	// Every reason's query runs (city and unit).
	for _, r := range svcindex.Reasons {
		for _, u := range []string{"", "phuong-chieng-le"} {
			if _, err := d.e.Costly(d.ctx, feb, u, r, 5); err != nil {
				t.Errorf("costly %s of %q: %v", r, u, err)
			}
		}
	}
	if _, err := d.e.Costly(d.ctx, feb, "", "lost", 10); err == nil {
		t.Errorf("an unknown reason is accepted")
	}
	// The trend of the ward shows January (nothing), February (restated).
	tr, err := d.e.Trend(d.ctx, "phuong-chieng-le", svcindex.MonthPeriod(2026, 2), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 2 || tr[0].Period.Key != "2026-01" || tr[1].Period.Key != "2026-02" || tr[1].Total != after.Total {
		t.Errorf("trend: %d scores, %+v", len(tr), tr)
	}
	// The city's score of February is restated the same way.
	c, err := d.e.Score(d.ctx, feb, "")
	if err != nil {
		t.Fatal(err)
	}
	if cp := indicator(t, c, "progress.on_time"); cp.Denominator != 5 {
		t.Errorf("city progress denominator %v, want 5", cp.Denominator)
	}
}

// (e) An indicator scored only at city level shows at a ward as not
// applicable (Applies false, out of Max), never as zero; an indicator
// that applies but has nothing to count shows as no data.
func TestNotApplicableIsNotZero(t *testing.T) {
	now := city(2026, 4, 15, 0)
	d := newIndexDB(t, svcindex.Config{}, now)
	d.add(t, regUnit("ubnd-tp", "city"), regUnit("phong-tnmt", "department"), regUnit("xa-hua-la", "commune"))
	rcv := city(2026, 3, 2, 8)
	d.add(t, &event.Dossier{DossierID: "D-1", ProcedureCode: "P1", Unit: "phong-tnmt", Channel: "online",
		State: "resolved", At: ts(rcv.Add(time.Hour)), ReceivedAt: ts(rcv), DueAt: ts(rcv.Add(48 * time.Hour))},
		&event.Procedure{Code: "P1", Name: "Thủ tục 1", Field: "construction", Level: "city", ProcessingDays: ip(2), Status: "published",
			At: ts(city(2026, 1, 5, 8)), DecisionAt: ts(city(2026, 1, 5, 8)), BasisInForceAt: ts(city(2026, 1, 10, 8)),
			PostedAt: ts(city(2026, 1, 6, 8)), PostedComplete: bp(true)})
	q1 := svcindex.QuarterPeriod(2026, 1)
	dep, err := d.e.Score(d.ctx, q1, "phong-tnmt")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"publicity.published_on_time", "publicity.posted_on_time", "publicity.posted_complete",
		"payment.procedures_enabled", "payment.procedures_used", "digitisation.e_certified"} {
		if ind := indicator(t, dep, code); ind.Applies || ind.Max != 0 || ind.Points != 0 {
			t.Errorf("department %s: applies %v, max %v, points %v; want not applicable", code, ind.Applies, ind.Max, ind.Points)
		}
	}
	if g := group(t, dep, "publicity"); g.Max != 6 {
		t.Errorf("department publicity max %v, want 6 (only the sync indicator applies)", g.Max)
	}
	cty, err := d.e.Score(d.ctx, q1, "")
	if err != nil {
		t.Fatal(err)
	}
	if ind := indicator(t, cty, "publicity.published_on_time"); !ind.Applies || ind.Points != 4 || ind.Numerator != 1 {
		t.Errorf("city published_on_time: %+v; want applies, 1/1, 4 points", ind)
	}
	// The commune has no feedback: applies, no data, out of Max by default.
	com, err := d.e.Score(d.ctx, q1, "xa-hua-la")
	if err != nil {
		t.Fatal(err)
	}
	if ind := indicator(t, com, "satisfaction.feedback_on_time"); !ind.Applies || !ind.NoData {
		t.Errorf("commune feedback_on_time: %+v; want applies with no data", ind)
	}
	if ind := indicator(t, com, "digitisation.e_certified"); !ind.Applies {
		t.Errorf("commune e_certified does not apply; it should at commune level")
	}
}
