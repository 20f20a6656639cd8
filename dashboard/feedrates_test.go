package dashboard

import (
	"testing"
	"time"
)

// Feed rates over the 5-minute ring, on a clock the test moves.
func TestFeedRates(t *testing.T) {
	type step struct {
		after   time.Duration // clock moves by this first
		partner string
		reads   int
		dead    int
	}
	for name, tc := range map[string]struct {
		steps   []step
		at      time.Duration // the clock's last move before reading the rate
		partner string
		want    feedRate
	}{
		"nothing yet": {partner: "vnpt", at: time.Minute},
		"one minute, 60 readings": {steps: []step{{30 * time.Second, "vnpt", 60, 0}}, at: 30 * time.Second, partner: "vnpt",
			want: feedRate{Readings: 60}},
		"under six seconds counts as six": {steps: []step{{time.Second, "vnpt", 3, 0}}, partner: "vnpt",
			want: feedRate{Readings: 30}},
		"dead letters and their share": {steps: []step{{time.Minute, "viettel", 30, 10}}, at: time.Minute, partner: "viettel",
			want: feedRate{Readings: 15, Dead: 5, DeadPct: 25}},
		"partners apart": {steps: []step{{time.Minute, "viettel", 30, 0}, {0, "vnpt", 0, 6}}, at: time.Minute, partner: "vnpt",
			want: feedRate{Dead: 3, DeadPct: 100}},
		"a full window, then older slots fall out": {steps: []step{{time.Minute, "vnpt", 100, 0}, {5 * time.Minute, "vnpt", 50, 0}},
			at: time.Second, partner: "vnpt", want: feedRate{Readings: 10}},
		"silence empties the ring": {steps: []step{{time.Minute, "vnpt", 100, 100}}, at: 6 * time.Minute, partner: "vnpt"},
	} {
		t.Run(name, func(t *testing.T) {
			now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
			f := newFeedRates(func() time.Time { return now }, 64)
			for _, s := range tc.steps {
				now = now.Add(s.after)
				for range s.reads {
					f.reading(s.partner)
				}
				for range s.dead {
					f.dead(s.partner)
				}
			}
			now = now.Add(tc.at)
			if got := f.rate(tc.partner); got != tc.want {
				t.Errorf("rate(%s) = %+v, want %+v", tc.partner, got, tc.want)
			}
		})
	}
}

// The partners counted are bounded: a flood of partner ids cannot grow
// memory.
func TestFeedRatesBounded(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	f := newFeedRates(func() time.Time { return now }, 2)
	for _, p := range []string{"a", "b", "c"} {
		f.reading(p)
	}
	now = now.Add(time.Minute)
	if len(f.rings) != 2 || f.rate("c") != (feedRate{}) || f.rate("a").Readings != 1 {
		t.Errorf("rings %d, c %+v, a %+v", len(f.rings), f.rate("c"), f.rate("a"))
	}
}
