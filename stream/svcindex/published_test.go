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

// (b) A province breakdown the national portal published, reproduced from
// events: UBND tỉnh Đắk Lắk (H15), year 2026, as the portal's evaluation
// API gave it on 2026-10-10 (crawled and committed by a third party:
// github.com/hauphanquoc/766-Analyze, data/snapshots/2026-10-10.json;
// docs/service-index.md, "Sources"). The scenario has exactly the
// published numerators and denominators, at full size (443,565 dossiers),
// in one month; every indicator's points, every group and the total must
// equal the published ones within 0.02 points (they are equal to the
// hundredth). Online services publish no counts (only 8.97 = 12 × rate):
// the scenario picks counts with that rate.
func TestPublishedProvinceBreakdown(t *testing.T) {
	if testing.Short() {
		t.Skip("443,565 dossiers")
	}
	d := newIndexDB(t, svcindex.Config{}, city(2026, 12, 1, 0))
	const (
		total          = 443565
		onTime         = 393087 // progress 17.72
		dissatisfiedOK = 218    // on time but rated dissatisfied: 443,565 − 50,478 late − 218 = 392,869 satisfied
		eResult        = 284995
		digitised      = 93664
		reused         = 82645
		toStore        = 9499
		population     = 279339
		fullOnline     = 331565 // of 443,565 eligible: 12 × 0.7475 = 8.97
		feeDossiers    = 204757
		paidOnline     = 179460
		feeProcs       = 376 // fee-bearing procedures
		payEnabled     = 160 // of them offering online payment
		procsUsed      = 56  // of them with dossiers paid online
		procs          = 1346
		popProcs       = 380
		decided        = 82 // decisions in the period, none on time
		postedOnTime   = 79 // posted on time and complete; 3 not posted
		pakn           = 485
		paknOnTime     = 241
		paknDisliked   = 55 // on time but disliked: 485 − 244 − 55 = 186 satisfied
	)
	d.add(t, regUnit("tinh", "city"))
	code := func(i int) string { return fmt.Sprintf("1.%06d.000.00.00.H15", i) }
	var evs []event.AdminEvent
	nov := city(2026, 11, 3, 9)
	for i := range procs {
		p := &event.Procedure{Code: code(i), Name: "Thủ tục " + code(i), Field: event.ProcedureFields[i%7], Level: "city",
			ProcessingDays: ip(3), Status: "published", At: ts(city(2025, 1, 2, 9)), DecisionAt: ts(city(2025, 1, 2, 9)),
			BasisInForceAt: ts(city(2025, 1, 10, 9)), PostedAt: ts(city(2025, 1, 3, 9)), PostedComplete: bp(true),
			FullOnline: bp(true), FeeBearing: bp(i < feeProcs), OnlinePayment: bp(i < payEnabled), PaperResult: bp(false),
			PopulationLinked: bp(i < popProcs)}
		if i >= procs-decided { // decided in November, after the basis took force
			p.At, p.DecisionAt, p.BasisInForceAt = ts(nov), ts(nov), ts(nov.AddDate(0, 0, -3))
			p.PostedAt = ts(nov.AddDate(0, 0, 2))
			if i >= procs-decided+postedOnTime {
				p.PostedAt = ""
			}
		}
		evs = append(evs, p)
	}
	for i := range pakn {
		rcv := city(2026, 11, 1+i%20, 8) // answered, late or not, before the cut
		base := event.Feedback{FeedbackID: fmt.Sprintf("pakn-%03d", i), Unit: "tinh", ReceivedAt: ts(rcv), DueAt: ts(rcv.AddDate(0, 0, 5))}
		rc, ans := base, base
		rc.State, rc.At = "received", ts(rcv)
		ans.State, ans.At = "answered", ts(rcv.AddDate(0, 0, 2))
		if i >= paknOnTime {
			ans.At = ts(rcv.AddDate(0, 0, 6))
		}
		evs = append(evs, &rc, &ans)
		if i < paknDisliked {
			re := base
			re.State, re.At, re.Likes, re.Dislikes = "reacted", ts(rcv.AddDate(0, 0, 3)), ip(0), ip(1)
			evs = append(evs, &re)
		}
	}
	d.add(t, evs...)
	// The dossiers, written by the server (443,565 rows through the client
	// take minutes): dossier n is received on 1 November plus n minutes
	// modulo 20,000, due 72 h later, resolved after 24 h, or after 73 h
	// from the onTime-th on. Dossiers below feeDossiers belong to the
	// fee-bearing procedures: those paid online to the first procsUsed,
	// the others to the rest; the others spread over the procedures
	// without fees.
	rcv0 := city(2026, 11, 1, 8).UnixMilli()
	q := fmt.Sprintf(`INSERT INTO %s (event_id, dossier_id, procedure_code, unit, channel, state, at, at_ms,
	        received_at, received_ms, due_at, due_ms, full_online, fee_vnd, paid_online, inputs, inputs_digitised, inputs_reused,
	        inputs_verified, e_result, result_to_store, synced_national, applicant_rating,
	        version, source, ingested_ms, kafka_partition, kafka_offset)
	    SELECT concat('e', toString(number)), concat('H15-', toString(number)),
	           concat('1.', substring(toString(1000000 + proc), 2, 6), '.000.00.00.H15'), 'tinh', 'online', 'resolved',
	           toDateTime(intDiv(at_ms, 1000)), at_ms, toDateTime(intDiv(rcv, 1000)), rcv, toDateTime(intDiv(due, 1000)), due,
	           toInt8(number < %[4]d), if(number < %[5]d, 20000, 0), toInt8(number < %[6]d), 1, toInt16(number < %[7]d),
	           toInt16(number < %[8]d), toInt16(number < %[9]d), toInt8(number < %[10]d), toInt8(number < %[11]d), 1,
	           if(number >= %[3]d - %[12]d AND number < %[3]d, 'dissatisfied', ''),
	           at_ms, 'test', at_ms, 0, 0
	    FROM (SELECT number, %[2]d + (number %% 20000) * 60000 AS rcv, rcv + 72 * 3600000 AS due,
	                 if(number < %[3]d, rcv + 24 * 3600000, due + 3600000) AS at_ms,
	                 multiIf(number < %[6]d, number %% %[13]d, number < %[5]d, %[13]d + number %% (%[14]d - %[13]d),
	                         %[14]d + number %% (%[15]d - %[14]d)) AS proc
	          FROM system.numbers LIMIT %[16]d)`, d.ch.Table("dossier_events_raw"), rcv0, onTime,
		fullOnline, feeDossiers, paidOnline, digitised, reused, population, eResult, toStore, dissatisfiedOK,
		procsUsed, feeProcs, procs, total)
	if err := d.conn.Exec(d.ctx, q); err != nil {
		t.Fatal(err)
	}
	s, err := d.e.Score(d.ctx, svcindex.MonthPeriod(2026, 11), "")
	if err != nil {
		t.Fatal(err)
	}
	// The portal's figures (numerator, denominator, points) per indicator.
	published := []struct {
		code     string
		num, den float64
		points   float64
	}{
		{"publicity.published_on_time", 0, decided, 0},
		{"publicity.posted_on_time", postedOnTime, decided, 3.85},
		{"publicity.posted_complete", postedOnTime, postedOnTime, 2},
		{"publicity.synced", total, total, 6}, // the portal: 370,610/370,610, a provisional denominator
		{"progress.on_time", onTime, total, 17.72},
		{"online.full_online", fullOnline, total, 8.97},
		{"payment.paid_online", paidOnline, feeDossiers, 5.26},
		{"payment.procedures_enabled", payEnabled, feeProcs, 1.06},
		{"payment.procedures_used", procsUsed, feeProcs, 0.37},
		{"satisfaction.dossiers", 392869, total, 5.9},
		{"satisfaction.feedback_on_time", paknOnTime, pakn, 2.98},
		{"satisfaction.feedback", 186, pakn, 2.3},
		{"digitisation.e_result", eResult, total, 3.86},
		{"digitisation.digitised", digitised, total, 0.84},
		{"digitisation.reused", reused, total, 0.47},
		{"digitisation.to_store", toStore, total, 0.09},
		{"digitisation.population", population, total, 1.26},
		{"digitisation.population_procedures", popProcs, procs, 0.56},
		{"digitisation.e_certified", 0, 0, 2},
	}
	for _, p := range published {
		ind := indicator(t, s, p.code)
		if ind.Numerator != p.num || ind.Denominator != p.den {
			t.Errorf("%s: %v of %v, the scenario has %v of %v", p.code, ind.Numerator, ind.Denominator, p.num, p.den)
		}
		if math.Abs(ind.Points-p.points) > 0.02 {
			t.Errorf("%s: %.4f points, the portal published %.2f", p.code, ind.Points, p.points)
		}
		t.Logf("%-36s %9.0f / %-9.0f → %5.2f points (published %5.2f)", p.code, ind.Numerator, ind.Denominator, ind.Points, p.points)
	}
	for g, want := range map[string]float64{"publicity": 11.85, "progress": 17.72, "online": 8.97, "payment": 6.69,
		"satisfaction": 11.18, "digitisation": 9.08} {
		if got := group(t, s, g).Points; math.Abs(got-want) > 0.02 {
			t.Errorf("group %s: %.4f points, the portal published %.2f", g, got, want)
		}
	}
	if math.Abs(s.Total-65.49) > 0.02 || s.Max != 100 {
		t.Errorf("total %.4f of %v, the portal published 65.49 of 100", s.Total, s.Max)
	}
	t.Logf("total %.2f (published 65.49)", s.Total)
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
	if ind := indicator(t, cty, "publicity.published_on_time"); !ind.Applies || ind.Points != 6 || ind.Numerator != 1 {
		t.Errorf("city published_on_time: %+v; want applies, 1/1, 6 points", ind)
	}
	// The commune has no feedback: applies, no data, full points by default
	// (as the portal scores a unit without feedback).
	com, err := d.e.Score(d.ctx, q1, "xa-hua-la")
	if err != nil {
		t.Fatal(err)
	}
	if ind := indicator(t, com, "satisfaction.feedback_on_time"); !ind.Applies || !ind.NoData || ind.Points != 6 {
		t.Errorf("commune feedback_on_time: %+v; want applies with no data, 6 points", ind)
	}
	if ind := indicator(t, com, "digitisation.e_certified"); !ind.Applies {
		t.Errorf("commune e_certified does not apply; it should at commune level")
	}
}
