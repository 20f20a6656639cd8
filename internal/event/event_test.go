package event

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestReadingIDIsDeterministicAndDistinct(t *testing.T) {
	a := ReadingID("vnpt", "aq-1", "pm25", 1700000000000)
	if a != ReadingID("vnpt", "aq-1", "pm25", 1700000000000) {
		t.Fatal("same reading, different ids")
	}
	for _, other := range []string{
		ReadingID("viettel", "aq-1", "pm25", 1700000000000),
		ReadingID("vnpt", "aq-2", "pm25", 1700000000000),
		ReadingID("vnpt", "aq-1", "pm10", 1700000000000),
		ReadingID("vnpt", "aq-1", "pm25", 1700000000001),
		ReadingID("vnpt", "aq-1p", "m25", 1700000000000), // no ambiguity at field boundaries
	} {
		if other == a {
			t.Errorf("different readings share id %s", a)
		}
	}
}

func TestValidate(t *testing.T) {
	now := time.Now().UnixMilli()
	good := func() Reading {
		r := Reading{Partner: "vnpt", DeviceID: "d", Metric: "m", Kind: KindNumber, Value: 1, ObservedMs: now, ReceivedMs: now}
		r.ID = ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
		return r
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Reading)
		reason Reason
	}{
		{"ok", func(*Reading) {}, ""},
		{"NaN", func(r *Reading) { r.Value = math.NaN() }, ReasonBadValue},
		{"no kind", func(r *Reading) { r.Kind = 0 }, ReasonMissingValue},
		{"future", func(r *Reading) {
			r.ObservedMs = now + time.Hour.Milliseconds()
			r.ID = ReadingID("vnpt", "d", "m", r.ObservedMs)
		}, ReasonBadTime},
		{"past 2100 wraps DateTime", func(r *Reading) { r.ObservedMs, r.ReceivedMs = 4102444800000, 4102444800000 }, ReasonBadTime},
		{"tampered id", func(r *Reading) { r.Value = 2; r.ID = "x" }, ReasonBadID},
		{"bad utf8", func(r *Reading) { r.String = "\xff" }, ReasonInvalidUTF8},
	} {
		r := good()
		tc.mutate(&r)
		err := r.Validate(DefaultLimits)
		var ve *ValidationError
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.reason != "" && (!errors.As(err, &ve) || ve.Reason != tc.reason):
			t.Errorf("%s: error %v, want reason %s", tc.name, err, tc.reason)
		}
	}
}

// The id is stored in ClickHouse and decides what counts as a duplicate: it
// must never change between releases, whatever the implementation.
func TestReadingIDIsStableAcrossReleases(t *testing.T) {
	long := strings.Repeat("thiết-bị-", 40) // longer than the stack buffer
	for _, c := range []struct {
		partner, device, metric string
		ms                      int64
		want                    string
	}{
		{"vnpt", "aq-1", "pm25", 1700000000000, "428bd52b9ec1fb181f9b7263692b1f92"},
		{"viettel", "tram-Chiềng-Lề", "mực_nước", -5, "d256b70d518156633f4017e777eefe6c"},
	} {
		if got := ReadingID(c.partner, c.device, c.metric, c.ms); got != c.want {
			t.Errorf("ReadingID(%q, %q, %q, %d) = %s, want %s", c.partner, c.device, c.metric, c.ms, got, c.want)
		}
	}
	if a, b := ReadingID("vnpt", long, "pm25", 1), ReadingID("vnpt", long+"x", "pm25", 1); a == b || len(a) != 32 {
		t.Errorf("long device ids: %s, %s", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { _ = ReadingID("vnpt", "aq-1", "pm25", 1700000000000) }); n > 1 {
		t.Errorf("ReadingID allocates %.0f times, want 1 (the string)", n)
	}
}
