package svcindex_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/schema"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

type indexDB struct {
	ctx  context.Context
	ch   chconn.Config
	conn driver.Conn
	e    *svcindex.Engine
}

func newIndexDB(t *testing.T, cfg svcindex.Config, now time.Time) *indexDB {
	t.Helper()
	ch, conn := chtest.Migrated(t, "ioc_svcindex", schema.Migrate)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	e, err := svcindex.New(cfg, ch, conn)
	if err != nil {
		t.Fatal(err)
	}
	e.Now = func() time.Time { return now }
	return &indexDB{ctx: ctx, ch: ch, conn: conn, e: e}
}

// add validates events as ingest does and writes them with the feed
// consumer's columns.
func (d *indexDB) add(t *testing.T, evs ...event.AdminEvent) {
	t.Helper()
	for _, ev := range evs {
		if err := event.PrepareAdmin(ev, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), event.DefaultAdminLimits); err != nil {
			t.Fatalf("%T %+v: %v", ev, ev, err)
		}
	}
	for i := 0; i < len(evs); i += 50000 {
		if err := feeds.Insert(d.ctx, d.conn, &d.ch, evs[i:min(i+50000, len(evs))]...); err != nil {
			t.Fatal(err)
		}
	}
}

func ts(t time.Time) string { return t.In(event.Location).Format(time.RFC3339) }
func bp(b bool) *bool       { return &b }
func ip(i int) *int         { return &i }
func i64(i int64) *int64    { return &i }

func city(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, event.Location)
}

func regUnit(id, kind string) *event.Unit {
	return &event.Unit{UnitID: id, Name: "UBND " + id, UnitKind: kind, DigitalSignature: bp(true), OneStopShop: true,
		Status: "active", At: ts(city(2020, 1, 1, 8))}
}

// ---- a generated city -------------------------------------------------------

type genProc struct {
	code                                                   string
	fullOnline, fee, onlinePay, paper, complete, populated bool
	decision, basis, posted                                time.Time
}

type genDossier struct {
	id, unit, proc string
	events         []*event.Dossier
}

type genFeedback struct {
	id, unit string
	events   []*event.Feedback
}

type world struct {
	units    []*event.Unit
	procs    []genProc
	dossiers []*genDossier
	feedback []*genFeedback
	procEvs  []*event.Procedure
}

func (w *world) events() []event.AdminEvent {
	var out []event.AdminEvent
	for _, u := range w.units {
		out = append(out, u)
	}
	for _, p := range w.procEvs {
		out = append(out, p)
	}
	for _, d := range w.dossiers {
		for _, ev := range d.events {
			out = append(out, ev)
		}
	}
	for _, f := range w.feedback {
		for _, ev := range f.events {
			out = append(out, ev)
		}
	}
	return out
}

// generate makes a city of six units, twelve procedures, n dossiers and
// n/5 feedback between January and mid-April 2026, with every index field
// set at random (some left out, some changed by a later event).
func generate(seed uint64, n int) *world {
	r := rand.New(rand.NewPCG(seed, 1))
	w := &world{units: []*event.Unit{regUnit("ubnd-tp", "city"), regUnit("phong-tnmt", "department"),
		regUnit("phong-tu-phap", "department"), regUnit("phuong-chieng-le", "ward"), regUnit("phuong-to-hieu", "ward"),
		regUnit("xa-hua-la", "commune")}}
	maybe := func(p float64) *bool {
		if r.Float64() < 0.15 {
			return nil
		}
		return bp(r.Float64() < p)
	}
	for i := range 12 {
		p := genProc{code: fmt.Sprintf("1.%06d.000.00.00.H50", i), fullOnline: r.IntN(2) == 0, fee: r.IntN(3) > 0,
			complete: r.IntN(4) > 0, populated: r.IntN(3) == 0}
		p.onlinePay = p.fee && r.IntN(3) > 0
		p.paper = !p.fullOnline && r.IntN(3) == 0
		p.decision = city(2026, time.Month(1+r.IntN(3)), 1+r.IntN(27), 9)
		p.basis = p.decision.AddDate(0, 0, r.IntN(20)-5)
		p.posted = p.decision.AddDate(0, 0, r.IntN(9))
		w.procs = append(w.procs, p)
		ev := &event.Procedure{Code: p.code, Name: "Thủ tục " + p.code, Field: event.ProcedureFields[i%7], Level: "commune",
			ProcessingDays: ip(5), Status: "published", At: ts(p.decision), DecisionAt: ts(p.decision),
			BasisInForceAt: ts(p.basis), PostedAt: ts(p.posted), PostedComplete: bp(p.complete), FullOnline: bp(p.fullOnline),
			FeeBearing: bp(p.fee), OnlinePayment: bp(p.onlinePay), PaperResult: bp(p.paper), PopulationLinked: bp(p.populated)}
		if i == 4 {
			ev.PostedAt = "" // never posted: out of posted_complete's base
		}
		w.procEvs = append(w.procEvs, ev)
	}
	// one procedure withdrawn later: out of the catalogue
	wd := *w.procEvs[11]
	wd.Status, wd.At = "withdrawn", ts(city(2026, 3, 28, 9))
	w.procEvs = append(w.procEvs, &wd)
	start := city(2026, 1, 1, 8)
	span := city(2026, 4, 14, 8).Sub(start)
	for i := range n {
		u := w.units[r.IntN(len(w.units))].UnitID
		p := w.procs[r.IntN(len(w.procs))]
		rcv := start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Minute)
		due := rcv.Add(time.Duration(1+r.IntN(10)) * 24 * time.Hour)
		d := &genDossier{id: fmt.Sprintf("000.00.26.H50-%06d", i), unit: u, proc: p.code}
		channel := "in_person"
		if r.IntN(2) == 0 {
			channel = "online"
		}
		base := event.Dossier{DossierID: d.id, ProcedureCode: p.code, Unit: u, Channel: channel, ReceivedAt: ts(rcv), DueAt: ts(due)}
		recv := base
		recv.State, recv.At = "received", ts(rcv)
		recv.FullOnline = maybe(0.5)
		if p.fee && r.IntN(6) > 0 {
			recv.FeeVND = i64(int64(10000 * (1 + r.IntN(20))))
			if r.IntN(5) > 0 {
				recv.PaidOnline = bp(r.IntN(3) > 0)
			}
		}
		if r.IntN(7) > 0 {
			n := 1 + r.IntN(6)
			recv.Inputs = ip(n)
			recv.InputsDigitised = ip(n - r.IntN(2)*r.IntN(n+1))
			recv.InputsReused = ip(r.IntN(n + 1))
			recv.InputsFromStore = ip(r.IntN(n + 1))
			recv.InputsVerified = ip(r.IntN(n + 1))
		}
		recv.SyncedNational = maybe(0.6)
		if p.code == w.procs[0].code || p.code == w.procs[1].code {
			recv.ECertifiedCopy = maybe(0.5)
		}
		d.events = append(d.events, &recv)
		switch k := r.IntN(10); {
		case k < 7: // resolved, early, on time or late
			end := rcv.Add(time.Duration(r.Int64N(int64(due.Sub(rcv)) * 13 / 10))).Truncate(time.Minute).Add(time.Minute)
			if end.After(city(2026, 4, 15, 0)) {
				break
			}
			res := base
			res.State, res.At = "resolved", ts(end)
			res.EResult = maybe(0.7)
			if res.EResult != nil && *res.EResult {
				res.ResultToStore = maybe(0.5)
			}
			if r.IntN(3) > 0 {
				res.ApplicantRating = event.ApplicantRatings[r.IntN(3)]
			}
			if r.IntN(4) == 0 {
				res.SyncedNational = bp(true) // a later sync overrides the received event's value
			}
			d.events = append(d.events, &res)
		case k < 8: // withdrawn
			end := rcv.Add(time.Hour)
			wdr := base
			wdr.State, wdr.At = "withdrawn", ts(end)
			d.events = append(d.events, &wdr)
		}
		w.dossiers = append(w.dossiers, d)
	}
	for i := range n / 5 {
		u := w.units[r.IntN(len(w.units))].UnitID
		rcv := start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Minute)
		due := rcv.Add(time.Duration(3+r.IntN(12)) * 24 * time.Hour)
		f := &genFeedback{id: fmt.Sprintf("pakn-%05d", i), unit: u}
		base := event.Feedback{FeedbackID: f.id, Unit: u, ReceivedAt: ts(rcv), DueAt: ts(due)}
		rc := base
		rc.State, rc.At = "received", ts(rcv)
		f.events = append(f.events, &rc)
		if r.IntN(5) > 0 {
			ans := rcv.Add(time.Duration(r.Int64N(int64(due.Sub(rcv)) * 12 / 10))).Truncate(time.Minute).Add(time.Minute)
			if ans.Before(city(2026, 4, 15, 0)) {
				a := base
				a.State, a.At = "answered", ts(ans)
				f.events = append(f.events, &a)
				if r.IntN(2) == 0 && ans.Add(time.Hour).Before(city(2026, 4, 15, 0)) {
					re := base
					re.State, re.At, re.Likes, re.Dislikes = "reacted", ts(ans.Add(time.Hour)), ip(r.IntN(4)), ip(r.IntN(3))
					f.events = append(f.events, &re)
				}
			}
		}
		w.feedback = append(w.feedback, f)
	}
	return w
}

// ---- an independent recomputation, from the events, in Go ------------------

// recompute follows docs/service-index.md with the default settings, from
// the generated events themselves, for the dossiers and feedback of the
// units in in (nil: the whole city).
func recompute(w *world, p svcindex.Period, now time.Time, in func(string) bool, cityLevel bool) map[string][2]float64 {
	start, cut := p.Start.UnixMilli(), min(p.End.UnixMilli()-1, now.UnixMilli())
	stateOrder := func(s string) int { return slices.Index(event.DossierStates, s) }
	// the catalogue at the cut
	type pstate struct {
		ev  *event.Procedure
		key [2]int64
	}
	cat := map[string]pstate{}
	for _, ev := range w.procEvs {
		if ev.AtMs > cut {
			continue
		}
		k := [2]int64{ev.AtMs, int64(map[string]int{"published": 1, "withdrawn": 2}[ev.Status])}
		if c, ok := cat[ev.Code]; !ok || k[0] > c.key[0] || (k[0] == c.key[0] && k[1] > c.key[1]) {
			cat[ev.Code] = pstate{ev, k}
		}
	}
	flag := func(b *bool) bool { return b != nil && *b }
	out := map[string][2]float64{}
	inc := func(code string, num, den bool) {
		f := out[code]
		if den {
			f[1]++
			if num {
				f[0]++
			}
		}
		out[code] = f
	}
	paidProcs := map[string]bool{}
	for _, d := range w.dossiers {
		var evs []*event.Dossier
		for _, ev := range d.events {
			if ev.AtMs <= cut {
				evs = append(evs, ev)
			}
		}
		if len(evs) == 0 {
			continue
		}
		slices.SortFunc(evs, func(a, b *event.Dossier) int {
			if a.AtMs != b.AtMs {
				return int(a.AtMs - b.AtMs)
			}
			return stateOrder(a.State) - stateOrder(b.State)
		})
		var resolved, closed, withdrawn int64
		var x event.DossierExt // newest reported value of each field
		for _, ev := range evs {
			switch ev.State {
			case "resolved":
				if resolved == 0 {
					resolved = ev.AtMs
				}
			case "withdrawn":
				if withdrawn == 0 {
					withdrawn = ev.AtMs
				}
			}
			if (ev.State == "resolved" || ev.State == "returned" || ev.State == "withdrawn") && closed == 0 {
				closed = ev.AtMs
			}
			e := ev.DossierExt
			for _, f := range []struct{ dst, src **bool }{{&x.FullOnline, &e.FullOnline}, {&x.PaidOnline, &e.PaidOnline},
				{&x.EResult, &e.EResult}, {&x.ResultToStore, &e.ResultToStore}, {&x.ECertifiedCopy, &e.ECertifiedCopy},
				{&x.SyncedNational, &e.SyncedNational}} {
				if *f.src != nil {
					*f.dst = *f.src
				}
			}
			for _, f := range []struct{ dst, src **int }{{&x.Inputs, &e.Inputs}, {&x.InputsDigitised, &e.InputsDigitised},
				{&x.InputsReused, &e.InputsReused}, {&x.InputsFromStore, &e.InputsFromStore}, {&x.InputsVerified, &e.InputsVerified}} {
				if *f.src != nil {
					*f.dst = *f.src
				}
			}
			if e.FeeVND != nil {
				x.FeeVND = e.FeeVND
			}
			if e.ApplicantRating != "" {
				x.ApplicantRating = e.ApplicantRating
			}
		}
		last := evs[len(evs)-1]
		if in != nil && !in(last.Unit) {
			continue
		}
		pf := cat[last.ProcedureCode].ev
		if pf == nil { // not in the catalogue (yet) at the cut: no flag holds
			pf = &event.Procedure{}
		}
		isResolved := resolved >= start
		open := closed == 0
		inPeriod := last.ReceivedMs >= start && withdrawn == 0
		// progress: resolved on time plus open within the deadline
		inc("progress.on_time", (isResolved && resolved <= last.DueMs) || (open && last.DueMs >= cut), isResolved || open)
		n := 0
		if x.Inputs != nil {
			n = *x.Inputs
		}
		cnt := func(v *int) int {
			if v == nil {
				return 0
			}
			return *v
		}
		inc("publicity.synced", flag(x.SyncedNational), inPeriod)
		inc("online.full_online", flag(x.FullOnline), inPeriod && flag(pf.FullOnline))
		inc("payment.paid_online", flag(x.PaidOnline), inPeriod && flag(pf.FeeBearing))
		if inPeriod && flag(x.PaidOnline) {
			paidProcs[last.ProcedureCode] = true
		}
		inc("digitisation.digitised", n > 0 && cnt(x.InputsDigitised) >= n, inPeriod)
		inc("digitisation.reused", cnt(x.InputsReused) > 0, inPeriod)
		inc("digitisation.population", cnt(x.InputsVerified) > 0, inPeriod)
		inc("digitisation.e_certified", flag(x.ECertifiedCopy), inPeriod && x.ECertifiedCopy != nil)
		inc("digitisation.e_result", flag(x.EResult), isResolved && !flag(pf.PaperResult))
		inc("digitisation.to_store", flag(x.ResultToStore) && flag(x.EResult), isResolved)
		// the portal's "100 % − (late + dissatisfied)"
		inc("satisfaction.dossiers", resolved <= last.DueMs && x.ApplicantRating != "dissatisfied", isResolved)
	}
	for _, f := range w.feedback {
		var answered, likes, dislikes int64
		var lastReact int64 = -1
		var last *event.Feedback
		for _, ev := range f.events {
			if ev.AtMs > cut {
				continue
			}
			last = ev
			if ev.State == "answered" && (answered == 0 || ev.AtMs < answered) {
				answered = ev.AtMs
			}
			if ev.State == "reacted" && ev.AtMs > lastReact {
				lastReact, likes, dislikes = ev.AtMs, int64(*ev.Likes), int64(*ev.Dislikes)
			}
		}
		if last == nil || (in != nil && !in(last.Unit)) || last.ReceivedMs < start {
			continue
		}
		onTime := (answered > 0 && answered <= last.DueMs) || (answered == 0 && last.DueMs >= cut)
		late := answered > last.DueMs || (answered == 0 && last.DueMs < cut)
		inc("satisfaction.feedback_on_time", onTime, true)
		inc("satisfaction.feedback", !(late || dislikes > 0), true)
		_ = likes
	}
	if cityLevel {
		day := int64(24 * time.Hour / time.Millisecond)
		for code, c := range cat {
			p := c.ev
			if p.Status != "published" {
				continue
			}
			decided := p.DecisionMs >= start && p.DecisionMs <= cut
			inc("publicity.published_on_time", p.DecisionMs <= p.BasisInForceMs, decided)
			inc("publicity.posted_on_time", p.PostedMs > 0 && p.PostedMs <= p.DecisionMs+5*day, decided)
			inc("publicity.posted_complete", flag(p.PostedComplete), decided && p.PostedMs > 0)
			inc("payment.procedures_enabled", flag(p.OnlinePayment), flag(p.FeeBearing))
			inc("payment.procedures_used", paidProcs[code], flag(p.FeeBearing))
			inc("digitisation.population_procedures", flag(p.PopulationLinked), true)
		}
	}
	return out
}

// thresholds are the indicators the portal scores in full from a rate on
// (docs/service-index.md); the others are linear.
var thresholds = map[string]float64{"satisfaction.dossiers": 0.9, "digitisation.reused": 0.8,
	"payment.procedures_enabled": 0.8, "payment.procedures_used": 0.8}

// (a) Every indicator of every unit and of the city, for a month, a
// quarter and the year to date, equals the recomputation from the events.
func TestIndexEqualsIndependentRecomputation(t *testing.T) {
	now := city(2026, 4, 15, 0)
	d := newIndexDB(t, svcindex.Config{}, now)
	w := generate(7, 3000)
	evs := w.events()
	d.add(t, evs...)
	// replays and redeliveries change nothing
	d.add(t, evs[len(evs)/3:len(evs)/3+500]...)
	checked := 0
	for _, p := range []svcindex.Period{svcindex.MonthPeriod(2026, 2), svcindex.QuarterPeriod(2026, 1), svcindex.YTDPeriod(2026, 4), svcindex.MonthPeriod(2026, 4)} {
		scores, err := d.e.Ranking(d.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := d.e.Score(d.ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		scores = append(scores, cs)
		if len(scores) != len(w.units) {
			t.Fatalf("%s: %d scores, want %d units", p.Key, len(scores), len(w.units))
		}
		for _, s := range scores {
			var in func(string) bool
			if s.Unit.Kind != "city" {
				id := s.Unit.ID
				in = func(u string) bool { return u == id }
			}
			want := recompute(w, p, now, in, s.Unit.Kind == "city")
			total := 0.0
			for _, g := range s.Groups {
				for _, ind := range g.Indicators {
					if !ind.Applies {
						continue
					}
					f := want[ind.Code]
					if ind.Numerator != f[0] || ind.Denominator != f[1] {
						t.Errorf("%s %s %s: %v/%v, recomputed %v/%v", p.Key, s.Unit.ID, ind.Code, ind.Numerator, ind.Denominator, f[0], f[1])
					}
					checked++
					// the portal's rules: full points on an empty
					// denominator, thresholds, each indicator rounded
					pts := ind.Max
					if f[1] > 0 {
						pts = math.Round(svcindex.Points(ind.Max, f[0]/f[1], thresholds[ind.Code])*100+1e-9) / 100
					}
					if math.Abs(ind.Points-pts) > 1e-9 {
						t.Errorf("%s %s %s: %v points, recomputed %v", p.Key, s.Unit.ID, ind.Code, ind.Points, pts)
					}
					total += pts
				}
			}
			if math.Abs(s.Total-total) > 1e-6 {
				t.Errorf("%s %s: total %v, recomputed %v", p.Key, s.Unit.ID, s.Total, total)
			}
		}
	}
	t.Logf("%d indicator figures checked against the recomputation", checked)
}
