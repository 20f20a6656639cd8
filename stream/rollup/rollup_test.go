package rollup

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
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

// touched.sql reads the parts it is given, and the window without them;
// the queries render from the set New parsed once.
func TestTouchedQueryBoundByParts(t *testing.T) {
	j := New(Config{}, chconn.Config{Database: "ioc"}, slog.New(slog.DiscardHandler), nil)
	vars := map[string]any{"Since": 1, "Done": 2, "InsertedSince": 3, "Parts": []string{"202612_1_1_0", "202612_2_2_0"}}
	q, err := j.query("touched.sql", vars)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(q, "FROM ioc.sensor_readings_raw") || !strings.HasSuffix(q, "inserted_at >= toDateTime(3) AND _part IN ('202612_1_1_0', '202612_2_2_0')\n") {
		t.Errorf("touched.sql with parts:\n%s", q)
	}
	vars["Parts"] = []string(nil)
	if q, err = j.query("touched.sql", vars); err != nil || strings.Contains(q, "_part IN") {
		t.Errorf("touched.sql without parts reads by part: %v\n%s", err, q)
	}
	delete(vars, "Parts")
	if _, err := j.query("touched.sql", vars); err == nil {
		t.Error("touched.sql rendered without Parts: a missing key must be an error")
	}
	q, err = j.query("parts_active.sql", map[string]any{"DB": "ioc", "Table": "sensor_readings_raw", "Parts": []string{"a'b"}})
	if err != nil || !strings.Contains(q, `name IN ('a\'b')`) || !strings.Contains(q, "database = 'ioc'") {
		t.Errorf("parts_active.sql: %v\n%s", err, q)
	}
}
