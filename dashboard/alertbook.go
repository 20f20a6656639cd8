package dashboard

import (
	"slices"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// alertBook decides which alert transitions the wall shows and when a
// resolved alert leaves it: the newest transition per alert wins (by
// sequence), at most max alerts are held (room is made by forgetting the
// oldest resolved one; with none resolved, new alerts wait), and a
// resolved alert is forgotten keep after it was resolved. It is not safe
// for concurrent use (the wall model holds its lock); now is its clock.
type alertBook struct {
	now      func() time.Time
	max      int
	keep     time.Duration
	shown    map[string]event.AlertEvent // alert id → the transition shown
	resolved map[string]int64            // alert id → when it was resolved, ms
}

func newAlertBook(now func() time.Time, maxAlerts int, keep time.Duration) *alertBook {
	return &alertBook{now: now, max: maxAlerts, keep: keep, shown: map[string]event.AlertEvent{}, resolved: map[string]int64{}}
}

// take records a transition. show says whether the wall shows it; evicted
// names an alert forgotten to make room ("" for none).
func (b *alertBook) take(ev *event.AlertEvent) (show bool, evicted string) {
	old, known := b.shown[ev.AlertID]
	if known && old.Seq >= ev.Seq {
		return false, ""
	}
	if !known && len(b.shown) >= b.max {
		at := int64(1 << 62)
		for id, t := range b.resolved {
			if t < at {
				evicted, at = id, t
			}
		}
		if evicted == "" {
			return false, ""
		}
		b.forget(evicted)
	}
	b.shown[ev.AlertID] = *ev
	if ev.State == event.AlertResolved {
		b.resolved[ev.AlertID] = ev.AtMs
	}
	return true, evicted
}

// get returns the transition shown of an alert.
func (b *alertBook) get(id string) (event.AlertEvent, bool) {
	ev, ok := b.shown[id]
	return ev, ok
}

// list returns the transitions shown, by alert id.
func (b *alertBook) list() []event.AlertEvent {
	out := make([]event.AlertEvent, 0, len(b.shown))
	for _, ev := range b.shown {
		out = append(out, ev)
	}
	slices.SortFunc(out, func(x, y event.AlertEvent) int { return strings.Compare(x.AlertID, y.AlertID) })
	return out
}

func (b *alertBook) forget(id string) {
	delete(b.shown, id)
	delete(b.resolved, id)
}

// expire forgets the alerts resolved more than keep ago and calls gone
// with each id.
func (b *alertBook) expire(gone func(id string)) {
	cut := b.now().Add(-b.keep).UnixMilli()
	for id, at := range b.resolved {
		if at < cut {
			b.forget(id)
			gone(id)
		}
	}
}
