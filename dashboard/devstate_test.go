package dashboard

import (
	"maps"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The partner cards count a partner's devices as the map shows them, at
// the states' clock.
func TestDeviceStatesCounts(t *testing.T) {
	const nowMs = int64(10_000_000)
	reg := newRegistryView()
	devs := map[string]struct {
		meta devMeta
		last int64
		st   string
	}{
		"fresh":      {devMeta{Partner: "viettel", Interval: 60}, nowMs - 30_000, ""},
		"quiet":      {devMeta{Partner: "viettel", Interval: 60}, nowMs - 240_000, ""}, // 4 intervals ago
		"slow-ok":    {devMeta{Partner: "viettel", Interval: 600}, nowMs - 240_000, ""},
		"off":        {devMeta{Partner: "viettel", Interval: 60}, nowMs - 1000, event.StatusOffline},
		"said-live":  {devMeta{Partner: "vnpt"}, 0, event.StatusOnline},
		"never":      {devMeta{Partner: "vnpt"}, 0, ""},
		"stale-said": {devMeta{Partner: "vnpt", Interval: 60}, nowMs - 1000, event.StatusStale},
	}
	for id, d := range devs {
		reg.devs[id] = d.meta
	}
	reg.devs["no-state"] = devMeta{Partner: "vnpt"} // registered, never tracked
	at := time.UnixMilli(nowMs)
	s := newDeviceStates(func() time.Time { return at })
	for id, d := range devs {
		s.track(id)
		if d.last > 0 {
			s.reading(&event.Reading{DeviceID: id, Metric: "m", Kind: event.KindNumber, ReceivedMs: d.last, ObservedMs: d.last})
		}
		if d.st != "" {
			s.status(&event.DeviceStatus{Kind: event.SubjectDevice, DeviceID: id, Status: d.st, AtMs: 1})
		}
	}
	for _, tc := range []struct {
		name string
		at   time.Duration // after nowMs
		want map[string]deviceCounts
	}{
		{"now", 0, map[string]deviceCounts{
			"viettel": {Online: 2, Stale: 1, Offline: 1, Total: 4},
			"vnpt":    {Online: 1, Stale: 1, Unknown: 2, Total: 4},
		}},
		{"three minutes on: fresh is stale too", 3 * time.Minute, map[string]deviceCounts{
			"viettel": {Online: 1, Stale: 2, Offline: 1, Total: 4},
			"vnpt":    {Online: 1, Stale: 1, Unknown: 2, Total: 4},
		}},
		{"an hour on: only the monitor's word and no reading stay online", time.Hour, map[string]deviceCounts{
			"viettel": {Stale: 3, Offline: 1, Total: 4},
			"vnpt":    {Online: 1, Stale: 1, Unknown: 2, Total: 4},
		}},
	} {
		at = time.UnixMilli(nowMs).Add(tc.at)
		if got := s.counts(reg); !maps.Equal(got, tc.want) {
			t.Errorf("%s: counts = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// What a device's latest values and status become after a sequence of
// readings and statuses.
func TestDeviceStates(t *testing.T) {
	num := func(metric string, v float64, observed, received int64) *event.Reading {
		return &event.Reading{DeviceID: "d", Metric: metric, Kind: event.KindNumber, Value: v, ObservedMs: observed, ReceivedMs: received}
	}
	status := func(st string, at, lastSeen int64) *event.DeviceStatus {
		return &event.DeviceStatus{Kind: event.SubjectDevice, DeviceID: "d", Status: st, Cause: "c-" + st, AtMs: at, LastSeenMs: lastSeen}
	}
	type step struct {
		r  *event.Reading
		st *event.DeviceStatus
	}
	type want struct {
		values map[string]float64
		status string
		since  int64
		last   int64
		latest []bool // per reading step: became the latest value
	}
	many := func() (steps []step) {
		for i := range maxMetricsPerDevice + 1 {
			steps = append(steps, step{r: num(string(rune('a'+i)), float64(i), 1, int64(i+1))})
		}
		return steps
	}()
	manyWant := want{values: map[string]float64{}, last: maxMetricsPerDevice + 1}
	for i := range maxMetricsPerDevice {
		manyWant.values[string(rune('a'+i))] = float64(i)
		manyWant.latest = append(manyWant.latest, true)
	}
	manyWant.latest = append(manyWant.latest, false)
	for name, tc := range map[string]struct {
		steps []step
		want  want
	}{
		"newest observation wins": {
			steps: []step{{r: num("pm25", 10, 100, 110)}, {r: num("pm25", 20, 200, 210)}},
			want:  want{values: map[string]float64{"pm25": 20}, last: 210, latest: []bool{true, true}},
		},
		"an older observation arriving late is not the latest, but is the newest receipt": {
			steps: []step{{r: num("pm25", 20, 200, 210)}, {r: num("pm25", 10, 100, 300)}},
			want:  want{values: map[string]float64{"pm25": 20}, last: 300, latest: []bool{true, false}},
		},
		"the same observation time replaces": {
			steps: []step{{r: num("pm25", 20, 200, 210)}, {r: num("pm25", 21, 200, 220)}},
			want:  want{values: map[string]float64{"pm25": 21}, last: 220, latest: []bool{true, true}},
		},
		"derived readings do not move the last receipt": {
			steps: []step{{r: num("pm25", 20, 200, 210)}, {r: &event.Reading{DeviceID: "d", Metric: event.MetricVNAQI, Kind: event.KindNumber,
				Value: 80, String: "pm25", Derived: true, ObservedMs: 200, ReceivedMs: 900}}},
			want: want{values: map[string]float64{"pm25": 20, event.MetricVNAQI: 80}, last: 210, latest: []bool{true, true}},
		},
		"metrics beyond the bound are not kept": {steps: many, want: manyWant},
		"the monitor's status, an older one ignored": {
			steps: []step{{st: status(event.StatusOffline, 500, 400)}, {st: status(event.StatusOnline, 450, 0)}},
			want:  want{values: map[string]float64{}, status: event.StatusOffline, since: 500, last: 400},
		},
		"a status's last seen never moves the last receipt back": {
			steps: []step{{r: num("m", 1, 100, 700)}, {st: status(event.StatusStale, 800, 600)}},
			want:  want{values: map[string]float64{"m": 1}, status: event.StatusStale, since: 800, last: 700, latest: []bool{true}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newDeviceStates(time.Now)
			s.track("d")
			var latest []bool
			for _, st := range tc.steps {
				if st.r != nil {
					_, ok := s.reading(st.r)
					latest = append(latest, ok)
				} else {
					s.status(st.st)
				}
			}
			d := s.get("d")
			got := map[string]float64{}
			for m, v := range d.M {
				got[m] = *v.V
			}
			if !maps.Equal(got, tc.want.values) || d.Status != tc.want.status || d.Since != tc.want.since || d.Last != tc.want.last ||
				len(latest) != len(tc.want.latest) {
				t.Fatalf("state %v status %q since %d last %d; want %v %q %d %d", got, d.Status, d.Since, d.Last,
					tc.want.values, tc.want.status, tc.want.since, tc.want.last)
			}
			for i := range latest {
				if latest[i] != tc.want.latest[i] {
					t.Errorf("reading %d became the latest: %v, want %v", i, latest[i], tc.want.latest[i])
				}
			}
			n := 0
			s.changed(func(string, *devLive) { n++ })
			if n != 1 {
				t.Errorf("%d devices changed, want 1", n)
			}
			s.changed(func(string, *devLive) { n++ })
			if n != 1 {
				t.Errorf("changed again without a change")
			}
		})
	}
}

// A status of a device not held, and a forgotten device, change nothing.
func TestDeviceStatesUntracked(t *testing.T) {
	s := newDeviceStates(time.Now)
	if s.status(&event.DeviceStatus{Kind: event.SubjectDevice, DeviceID: "x", Status: event.StatusOnline, AtMs: 1}) != nil {
		t.Error("status of an untracked device applied")
	}
	s.track("x")
	s.forget("x")
	n := 0
	s.changed(func(string, *devLive) { n++ })
	if n != 0 || s.get("x") != nil {
		t.Errorf("forgotten device still held (%d changed)", n)
	}
}
