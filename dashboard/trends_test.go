package dashboard

import (
	"maps"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// Trend minutes from readings, on a clock the test sets.
func TestTrends(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 30, 20, 0, time.UTC)
	min0 := now.Truncate(time.Minute).UnixMilli() // 10:30
	at := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	water := func(dev string, v float64, obs int64) event.Reading {
		return event.Reading{Partner: "viettel", DeviceID: dev, Metric: "level", Kind: event.KindNumber, Value: v, ObservedMs: obs}
	}
	type bucket struct {
		Avg, Max float64
		N        int64
	}
	for name, tc := range map[string]struct {
		readings []event.Reading
		want     map[string]bucket
	}{
		"two devices in one minute": {
			readings: []event.Reading{water("w-1", 1.0, at(-10*time.Second)), water("w-2", 2.0, at(-5*time.Second))},
			want:     map[string]bucket{trendMinute{"water", min0}.key(): {1.5, 2.0, 2}},
		},
		"minutes apart": {
			readings: []event.Reading{water("w-1", 1.0, at(-2*time.Minute)), water("w-1", 3.0, at(0))},
			want: map[string]bucket{trendMinute{"water", min0 - 120000}.key(): {1, 1, 1},
				trendMinute{"water", min0}.key(): {3, 3, 1}},
		},
		"a replayed or older reading counts once": {
			readings: []event.Reading{water("w-1", 1.0, at(0)), water("w-1", 1.0, at(0)), water("w-1", 9.0, at(-time.Second))},
			want:     map[string]bucket{trendMinute{"water", min0}.key(): {1, 1, 1}},
		},
		"outside the window or ahead": {
			readings: []event.Reading{water("w-1", 1.0, at(-20*time.Minute)), water("w-2", 1.0, at(3*time.Minute))},
			want:     map[string]bucket{},
		},
		"not a trend metric, not a number": {
			readings: []event.Reading{{Partner: "viettel", DeviceID: "aq-1", Metric: "pm25", Kind: event.KindNumber, Value: 5, ObservedMs: at(0)},
				{Partner: "viettel", DeviceID: "w-1", Metric: "level", Kind: event.KindString, String: "x", ObservedMs: at(0)}},
			want: map[string]bucket{},
		},
		"the device bound": {
			readings: []event.Reading{water("w-1", 1, at(0)), water("w-2", 2, at(0)), water("w-3", 3, at(0))},
			want:     map[string]bucket{trendMinute{"water", min0}.key(): {1.5, 2, 2}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			tr := newTrends(func() time.Time { return now }, 15*time.Minute, 2)
			for i := range tc.readings {
				tr.add(&tc.readings[i])
			}
			got := map[string]bucket{}
			tr.changed(func(k string, b *trendBucket) { got[k] = bucket{b.Avg, b.Max, b.N} })
			if !maps.Equal(got, tc.want) {
				t.Errorf("changed: %v, want %v", got, tc.want)
			}
			again := 0
			tr.changed(func(string, *trendBucket) { again++ })
			if again != 0 {
				t.Errorf("%d minutes changed again without a reading", again)
			}
		})
	}
}

// Seeded minutes and observations: a reading ClickHouse already counted
// is not counted again, and minutes older than the window go.
func TestTrendsSeedAndExpire(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 30, 20, 0, time.UTC)
	min0 := now.Truncate(time.Minute).UnixMilli()
	tr := newTrends(func() time.Time { return now }, 15*time.Minute, 100)
	tr.seed("water", min0, 3, 2, 2)
	tr.seed("water", min0-17*60000, 1, 1, 1)
	tr.seedObserved("viettel", "w-1", "level", now.UnixMilli())
	r := event.Reading{Partner: "viettel", DeviceID: "w-1", Metric: "level", Kind: event.KindNumber, Value: 7, ObservedMs: now.UnixMilli()}
	tr.add(&r)
	if b := tr.minutes[trendMinute{"water", min0}]; b == nil || b.N != 2 || b.Avg != 1.5 {
		t.Errorf("seeded minute after a reading already counted: %+v, want n 2 avg 1.5", b)
	}
	var gone []string
	tr.expire(func(k string) { gone = append(gone, k) })
	if want := (trendMinute{"water", min0 - 17*60000}).key(); len(gone) != 1 || gone[0] != want {
		t.Errorf("expired %v, want [%s]", gone, want)
	}
	now = now.Add(20 * time.Minute)
	gone = nil
	tr.expire(func(k string) { gone = append(gone, k) })
	if len(gone) != 1 || len(tr.minutes) != 0 {
		t.Errorf("20 minutes later expired %v, %d minutes left", gone, len(tr.minutes))
	}
}
