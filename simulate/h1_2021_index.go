package simulate

import (
	"fmt"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The fields of the service index of Decision 766/QĐ-TTg
// (docs/service-index.md) in the H1-2021 scenario, drawn from gen.idx so
// that the figures of the report (drawn from gen.rng) stay exactly as they
// were. The report gives none of these rates; they are plausible for a
// city of 2021 (a third of dossiers online, most results still on paper)
// and make every indicator of the index have data in `make run`.

// procIndex are the catalogue's index fields of one procedure.
type procIndex struct {
	fullOnline, fee, onlinePay, paper, complete bool
	lateDecision, latePosting, populationLinked bool
}

func (g *gen) procIndex(p procRef) procIndex {
	x := procIndex{fullOnline: g.idx.IntN(100) < 40, fee: g.idx.IntN(100) < 55, complete: g.idx.IntN(100) < 96,
		lateDecision: g.idx.IntN(100) < 4, latePosting: g.idx.IntN(100) < 6}
	x.onlinePay = x.fee && g.idx.IntN(100) < 80
	x.paper = !x.fullOnline && g.idx.IntN(100) < 30
	// Procedures served online read the population database (no draw: the
	// other fields stay as they were).
	x.populationLinked = x.fullOnline || x.onlinePay
	return x
}

// apply sets the index fields of a catalogue event at t: the publication
// decision two days before, the legal basis in force ten days after it
// (or the day before, for a late publication), posted the next day (or a
// week later).
func (x procIndex) apply(ev *event.Procedure, t time.Time) {
	decision := t.AddDate(0, 0, -2)
	basis := decision.AddDate(0, 0, 10)
	if x.lateDecision {
		basis = decision.AddDate(0, 0, -1)
	}
	posted := decision.AddDate(0, 0, 1)
	if x.latePosting {
		posted = decision.AddDate(0, 0, 7)
	}
	ev.DecisionAt, ev.BasisInForceAt, ev.PostedAt = rfc(decision), rfc(basis), rfc(posted)
	ev.PostedComplete, ev.FullOnline, ev.FeeBearing = ptr(x.complete), ptr(x.fullOnline), ptr(x.fee)
	ev.OnlinePayment, ev.PaperResult, ev.PopulationLinked = ptr(x.onlinePay), ptr(x.paper), ptr(x.populationLinked)
}

// dossierIndex sets the index fields on a dossier's received event and on
// its outcome (the last event, if settled).
func (g *gen) dossierIndex(p procRef, channel string, trail []*event.Dossier) {
	pct := func(n int) bool { return g.idx.IntN(100) < n }
	rcv := trail[0]
	rcv.FullOnline = ptr(channel == "online" && p.idx.fullOnline && pct(70))
	if p.idx.fee {
		rcv.FeeVND = ptr(int64(10000 * (1 + g.idx.IntN(20))))
		rcv.PaidOnline = ptr(p.idx.onlinePay && channel == "online" && pct(60))
	} else {
		rcv.FeeVND = ptr(int64(0))
	}
	n := 1 + g.idx.IntN(5)
	digitised := n
	if !pct(85) {
		digitised = g.idx.IntN(n)
	}
	rcv.Inputs, rcv.InputsDigitised = ptr(n), ptr(digitised)
	rcv.InputsReused, rcv.InputsFromStore = ptr(min(digitised, g.idx.IntN(2))), ptr(min(digitised, g.idx.IntN(2)))
	rcv.InputsVerified = ptr(min(n, g.idx.IntN(3)))
	rcv.SyncedNational = ptr(pct(93))
	if p.field == "justice" && p.days <= 1 {
		rcv.ECertifiedCopy = ptr(pct(35))
	}
	last := trail[len(trail)-1]
	if last.State != "resolved" {
		return
	}
	last.EResult = ptr(!p.idx.paper && pct(65))
	if *last.EResult {
		last.ResultToStore = ptr(pct(50))
	}
	switch r := g.idx.IntN(100); {
	case r < 45:
		last.ApplicantRating = "very_satisfied"
	case r < 75:
		last.ApplicantRating = "satisfied"
	case r < 76:
		last.ApplicantRating = "dissatisfied"
	}
	last.SyncedNational = ptr(true) // synchronised once settled
}

// feedback: the citizens' feedback and petitions (PAKN) of H1 2021, a few
// a week across the units, answered within their limit of ten working days
// (a handful late), some reacted to.
func (g *gen) feedback() {
	days := workingDays(at(2021, 1, 4, 0, 0), at(2021, 6, 30, 0, 0))
	var shops []string
	for _, u := range units {
		if u.shop {
			shops = append(shops, u.id)
		}
	}
	for i := range 160 {
		rcv := officeTime(g.idx, days[g.idx.IntN(len(days))])
		due := clock(addWorkingDays(rcv, 10), 17, 0)
		unit := shops[g.idx.IntN(len(shops))]
		base := event.Feedback{AdminMeta: event.AdminMeta{Source: "pakn-sonla"}, FeedbackID: fmt.Sprintf("pakn-2021-%04d", i+1),
			Unit: unit, ReceivedAt: rfc(rcv), DueAt: rfc(due)}
		emit := func(state string, t time.Time, likes, dislikes *int) {
			if t.After(g.asOf) {
				return
			}
			ev := base
			ev.State, ev.At, ev.Likes, ev.Dislikes = state, rfc(t), likes, dislikes
			g.emit(t, &ev)
		}
		emit("received", rcv, nil, nil)
		answered := officeTime(g.idx, addWorkingDays(rcv, 1+g.idx.IntN(9)))
		if g.idx.IntN(100) < 3 {
			answered = officeTime(g.idx, addWorkingDays(due, 1+g.idx.IntN(3)))
		}
		emit("answered", answered, nil, nil)
		if g.idx.IntN(100) < 40 {
			dislikes := 0
			if g.idx.IntN(100) < 8 {
				dislikes = 1 + g.idx.IntN(2)
			}
			emit("reacted", answered.Add(time.Duration(1+g.idx.IntN(48))*time.Hour), ptr(g.idx.IntN(6)), ptr(dislikes))
		}
	}
}
