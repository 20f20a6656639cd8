package dashboard

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The unregistered devices the wall lists, with a bound of two.
func TestUnregistered(t *testing.T) {
	rd := func(dev, partner, metric string, at int64) *event.Reading {
		return &event.Reading{DeviceID: dev, Partner: partner, Metric: metric, ReceivedMs: at}
	}
	type shown struct {
		N       int64
		First   int64
		Last    int64
		Metrics string
	}
	for name, tc := range map[string]struct {
		readings   []*event.Reading
		registered [][2]string // id, partner
		want       map[string]shown
		evicted    []string
	}{
		"counts and metrics": {
			readings: []*event.Reading{rd("x", "vnpt", "pm25", 10), rd("x", "vnpt", "pm10", 20), rd("x", "vnpt", "pm25", 15)},
			want:     map[string]shown{"x": {3, 10, 20, "[pm10 pm25]"}},
		},
		"the most recent stay": {
			readings: []*event.Reading{rd("a", "vnpt", "m", 10), rd("b", "vnpt", "m", 30), rd("a", "vnpt", "m", 40), rd("c", "vnpt", "m", 50)},
			want:     map[string]shown{"a": {2, 10, 40, "[m]"}, "c": {1, 50, 50, "[m]"}},
			evicted:  []string{"b"},
		},
		"registered to its partner: gone": {
			readings:   []*event.Reading{rd("a", "vnpt", "m", 10), rd("b", "viettel", "m", 20)},
			registered: [][2]string{{"a", "vnpt"}, {"b", "vnpt"}},
			want:       map[string]shown{"b": {1, 20, 20, "[m]"}},
		},
		"eight metric names at most": {
			readings: func() (rs []*event.Reading) {
				for i := range 10 {
					rs = append(rs, rd("x", "vnpt", fmt.Sprint("m", i), int64(i)))
				}
				return rs
			}(),
			want: map[string]shown{"x": {10, 0, 9, "[m0 m1 m2 m3 m4 m5 m6 m7]"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnregistered(2)
			var evicted []string
			for _, r := range tc.readings {
				if gone := u.add(r); gone != "" {
					evicted = append(evicted, gone)
				}
			}
			for _, reg := range tc.registered {
				u.registered(reg[0], reg[1])
			}
			got := map[string]shown{}
			u.changed(func(id string, d *unregLive) { got[id] = shown{d.N, d.First, d.Last, fmt.Sprint(d.Metrics)} })
			if !maps.Equal(got, tc.want) || !slices.Equal(evicted, tc.evicted) {
				t.Errorf("changed %v, evicted %v; want %v, %v", got, evicted, tc.want, tc.evicted)
			}
			n := 0
			u.changed(func(string, *unregLive) { n++ })
			if n != 0 || u.len() != len(tc.want) {
				t.Errorf("%d changed again, %d listed", n, u.len())
			}
		})
	}
}

// The heap drops exactly the device a scan of every listed one would:
// the one heard from least recently (receive times all distinct here, some
// out of order), through additions, evictions and registrations.
func TestUnregisteredEvictsLikeAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	u := newUnregistered(20)
	ref := map[string]int64{} // device → last receive time
	used := map[int64]bool{}
	for i := range 20000 {
		dev := fmt.Sprint("d", rng.IntN(60))
		at := int64(i*10) + rng.Int64N(400) // out of order within 400 ms
		for used[at] {
			at++
		}
		used[at] = true
		if rng.IntN(50) == 0 {
			if _, ok := ref[dev]; ok != u.registered(dev, "vnpt") {
				t.Fatalf("step %d: registered(%s) disagrees with the reference", i, dev)
			}
			delete(ref, dev)
			continue
		}
		want := ""
		if _, ok := ref[dev]; !ok && len(ref) >= 20 {
			best := int64(1 << 62)
			for id, last := range ref {
				if last < best {
					want, best = id, last
				}
			}
			delete(ref, want)
		}
		ref[dev] = max(ref[dev], at)
		if got := u.add(&event.Reading{DeviceID: dev, Partner: "vnpt", Metric: "m", ReceivedMs: at}); got != want {
			t.Fatalf("step %d: evicted %q, a scan evicts %q", i, got, want)
		}
		if u.len() != len(ref) {
			t.Fatalf("step %d: %d listed, want %d", i, u.len(), len(ref))
		}
	}
}
