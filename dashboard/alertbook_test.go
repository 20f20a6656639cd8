package dashboard

import (
	"slices"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// Which alert transitions the wall shows, with a bound of two alerts.
func TestAlertBookTake(t *testing.T) {
	ev := func(id string, seq int, state string, atMin int) *event.AlertEvent {
		return &event.AlertEvent{AlertID: id, Seq: seq, State: state, AtMs: int64(atMin) * 60000}
	}
	type want struct {
		show    bool
		evicted string
	}
	for name, tc := range map[string]struct {
		before []*event.AlertEvent
		ev     *event.AlertEvent
		want   want
	}{
		"a new alert":              {ev: ev("a", 1, event.AlertOpen, 0), want: want{true, ""}},
		"a newer transition":       {before: []*event.AlertEvent{ev("a", 1, event.AlertOpen, 0)}, ev: ev("a", 2, event.AlertAcknowledged, 1), want: want{true, ""}},
		"the same sequence again":  {before: []*event.AlertEvent{ev("a", 2, event.AlertOpen, 0)}, ev: ev("a", 2, event.AlertOpen, 0), want: want{false, ""}},
		"an older transition late": {before: []*event.AlertEvent{ev("a", 3, event.AlertResolved, 2)}, ev: ev("a", 2, event.AlertAcknowledged, 1), want: want{false, ""}},
		"full, none resolved: the new one waits": {before: []*event.AlertEvent{ev("a", 1, event.AlertOpen, 0), ev("b", 1, event.AlertOpen, 0)},
			ev: ev("c", 1, event.AlertOpen, 1), want: want{false, ""}},
		"full: the oldest resolved makes room": {before: []*event.AlertEvent{ev("a", 2, event.AlertResolved, 5), ev("b", 2, event.AlertResolved, 3)},
			ev: ev("c", 1, event.AlertOpen, 6), want: want{true, "b"}},
		"full: a known alert still moves": {before: []*event.AlertEvent{ev("a", 1, event.AlertOpen, 0), ev("b", 1, event.AlertOpen, 0)},
			ev: ev("a", 2, event.AlertResolved, 1), want: want{true, ""}},
	} {
		t.Run(name, func(t *testing.T) {
			b := newAlertBook(time.Now, 2, time.Hour)
			for _, e := range tc.before {
				b.take(e)
			}
			if show, evicted := b.take(tc.ev); show != tc.want.show || evicted != tc.want.evicted {
				t.Errorf("take = %v %q, want %v %q", show, evicted, tc.want.show, tc.want.evicted)
			}
		})
	}
}

// A resolved alert leaves resolved_keep after it was resolved; open ones
// stay.
func TestAlertBookExpire(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b := newAlertBook(func() time.Time { return now }, 10, time.Hour)
	b.take(&event.AlertEvent{AlertID: "open", Seq: 1, State: event.AlertOpen, AtMs: now.Add(-3 * time.Hour).UnixMilli()})
	b.take(&event.AlertEvent{AlertID: "old", Seq: 2, State: event.AlertResolved, AtMs: now.Add(-61 * time.Minute).UnixMilli()})
	b.take(&event.AlertEvent{AlertID: "recent", Seq: 2, State: event.AlertResolved, AtMs: now.Add(-59 * time.Minute).UnixMilli()})
	var gone []string
	b.expire(func(id string) { gone = append(gone, id) })
	if !slices.Equal(gone, []string{"old"}) {
		t.Errorf("expired %v, want [old]", gone)
	}
	now = now.Add(2 * time.Minute)
	gone = nil
	b.expire(func(id string) { gone = append(gone, id) })
	if !slices.Equal(gone, []string{"recent"}) || len(b.list()) != 1 {
		t.Errorf("2 minutes later expired %v, %d alerts held, want [recent] and 1", gone, len(b.list()))
	}
	// A forgotten alert's id may come back with a new transition.
	if show, _ := b.take(&event.AlertEvent{AlertID: "old", Seq: 1, State: event.AlertOpen}); !show {
		t.Error("an expired alert's new transition is not shown")
	}
}

// The book answers with the transition it shows: the newest by sequence,
// open or not, and lists the alerts by id.
func TestAlertBookShows(t *testing.T) {
	b := newAlertBook(time.Now, 10, time.Minute)
	for _, ev := range []*event.AlertEvent{
		{AlertID: "b", Seq: 1, State: event.AlertOpen},
		{AlertID: "a", Seq: 2, State: event.AlertAcknowledged},
		{AlertID: "a", Seq: 1, State: event.AlertOpen}, // late, older
		{AlertID: "b", Seq: 2, State: event.AlertResolved, AtMs: time.Now().UnixMilli()},
	} {
		b.take(ev)
	}
	for _, c := range []struct {
		id    string
		known bool
		state string
	}{{"a", true, event.AlertAcknowledged}, {"b", true, event.AlertResolved}, {"c", false, ""}} {
		ev, ok := b.get(c.id)
		if ok != c.known || ev.State != c.state {
			t.Errorf("get(%s) = %s, %v; want %s, %v", c.id, ev.State, ok, c.state, c.known)
		}
	}
	var ids []string
	for _, ev := range b.list() {
		ids = append(ids, ev.AlertID)
	}
	if !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("list = %v, want [a b]", ids)
	}
}
