package dashboard

import "time"

const (
	feedSlot  = 5 * time.Second
	feedSlots = 60 // 5 minutes
)

// feedRates counts the readings and dead letters of each partner's feed
// in a ring of feedSlots slots of feedSlot (5 minutes), for the rates the
// wall's partner cards show. It is not safe for concurrent use (the wall
// model holds its lock); now is its clock.
type feedRates struct {
	now     func() time.Time
	started time.Time
	slot    int64 // current slot number (time / feedSlot)
	rings   map[string]*feedRing
	max     int // partners counted at most
}

type feedRing struct{ readings, dead [feedSlots]int64 }

// feedRate is a feed's rates over the ring (or since start, if shorter).
type feedRate struct {
	Readings, Dead float64 // per minute
	DeadPct        float64 // dead letters / (readings + dead letters), %
}

func newFeedRates(now func() time.Time, maxPartners int) *feedRates {
	return &feedRates{now: now, started: now(), rings: map[string]*feedRing{}, max: maxPartners}
}

// advance moves the ring to now, clearing the slots skipped since the
// last call, and returns the current slot's index.
func (f *feedRates) advance() int {
	n := f.now().UnixNano() / int64(feedSlot)
	if n != f.slot {
		for s := max(f.slot+1, n-feedSlots+1); s <= n; s++ {
			i := int(s % feedSlots)
			for _, r := range f.rings {
				r.readings[i], r.dead[i] = 0, 0
			}
		}
		f.slot = n
	}
	return int(n % feedSlots)
}

func (f *feedRates) ring(partner string) *feedRing {
	r := f.rings[partner]
	if r == nil && len(f.rings) < f.max {
		r = &feedRing{}
		f.rings[partner] = r
	}
	return r
}

// reading counts a reading of partner's feed.
func (f *feedRates) reading(partner string) {
	i := f.advance()
	if r := f.ring(partner); r != nil {
		r.readings[i]++
	}
}

// dead counts a dead letter of partner's feed.
func (f *feedRates) dead(partner string) {
	i := f.advance()
	if r := f.ring(partner); r != nil {
		r.dead[i]++
	}
}

// rate is partner's rates per minute over the ring, or over the time since
// the start when that is shorter (at least 6 seconds).
func (f *feedRates) rate(partner string) feedRate {
	f.advance()
	r := f.rings[partner]
	if r == nil {
		return feedRate{}
	}
	window := max(min(f.now().Sub(f.started), feedSlot*feedSlots).Minutes(), 0.1)
	var n, d int64
	for i := range r.readings {
		n += r.readings[i]
		d += r.dead[i]
	}
	out := feedRate{Readings: float64(n) / window, Dead: float64(d) / window}
	if n+d > 0 {
		out.DeadPct = 100 * float64(d) / float64(n+d)
	}
	return out
}
