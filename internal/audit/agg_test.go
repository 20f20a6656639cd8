package audit

import (
	"testing"
	"time"
)

// The aggregation's bounds, on a clock of its own: the per-address rate,
// the overall rate, the tracked addresses (more are counted under "*"),
// and summaries whose counts add up to what was not written.
func TestRefusalAggregation(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newRefusalAgg(3, 5, 2) // 3 a minute from one address, 5 from all, 2 addresses
	a.now = func() time.Time { return now }
	ev := func(addr, reason string) Event {
		return Event{Action: "ws.connect", Outcome: Denied, Reason: reason, Remote: addr, Service: "dashboard"}
	}
	admitted := map[string]int{}
	for range 10 {
		for _, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			if a.admit(ev(addr, "no_credentials: x")) {
				admitted[addr]++
			}
		}
	}
	if admitted["192.0.2.1"] != 3 || admitted["192.0.2.2"] != 2 || admitted["192.0.2.3"] != 0 {
		t.Errorf("admitted %v, want 3 (its rate), 2 (the overall rate of 5 spent) and 0 (a third address beyond the 2 tracked)", admitted)
	}
	got := map[string]int{}
	for _, e := range a.drain() {
		if e.Actor != "aggregate" || e.Reason != "no_credentials" || e.Action != "ws.connect" {
			t.Errorf("summary %+v", e)
		}
		got[e.Remote] += SummaryCount(e)
	}
	if got["192.0.2.1"] != 7 || got["192.0.2.2"] != 8 || got["*"] != 10 {
		t.Errorf("summarised %v, want 7, 8 and 10 under *", got)
	}
	if len(a.drain()) != 0 {
		t.Error("a second drain repeats the counts")
	}
	now = now.Add(time.Minute) // buckets refill: admitted one by one again
	if !a.admit(ev("192.0.2.1", "no_credentials")) {
		t.Error("a minute later the address is not admitted again")
	}
}
