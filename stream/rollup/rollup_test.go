package rollup

import (
	"slices"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

func TestHourRuns(t *testing.T) {
	h := func(n int64) int64 { return 1_700_000_000 - 1_700_000_000%3600 + n*3600 }
	for _, c := range []struct {
		hours []int64
		chunk int
		want  []hourRange
	}{
		{nil, 24, nil},
		{[]int64{h(2), h(0), h(1), h(1)}, 24, []hourRange{{h(0), h(3)}}},
		{[]int64{h(0), h(1), h(5)}, 24, []hourRange{{h(0), h(2)}, {h(5), h(6)}}},
		{[]int64{h(0), h(1), h(2)}, 2, []hourRange{{h(0), h(2)}, {h(2), h(3)}}},
	} {
		if got := hourRuns(c.hours, c.chunk); !slices.Equal(got, c.want) {
			t.Errorf("hourRuns(%v, %d) = %v, want %v", c.hours, c.chunk, got, c.want)
		}
	}
}

// Days are Son La's (UTC+7): 23:00 to 01:00 local touches two days.
func TestDayRuns(t *testing.T) {
	at := func(d, hh int) int64 { return time.Date(2026, 3, d, hh, 0, 0, 0, event.Location).Unix() }
	day := func(d int) int64 { return at(d, 0) }
	got := dayRuns([]hourRange{{at(10, 23), at(11, 1)}, {at(11, 5), at(11, 6)}, {at(14, 0), at(15, 0)}})
	want := []hourRange{{day(10), day(12)}, {day(14), day(15)}}
	if !slices.Equal(got, want) {
		t.Errorf("dayRuns = %v, want %v", got, want)
	}
}
