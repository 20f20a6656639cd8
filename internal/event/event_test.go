package event

import (
	"errors"
	"math"
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
