package payload

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

var now = time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)

func dec() Decoder { return Decoder{MaxBytes: 4096, Limits: event.DefaultLimits} }

func TestDecodeValid(t *testing.T) {
	nowMs := now.UnixMilli()
	t0 := float64(now.Add(-time.Minute).UnixMilli()) / 1000
	type want struct {
		metric, unit, vs string
		kind             event.Kind
		v                float64
		vb               bool
		ms               int64
		fromSource       bool
	}
	for _, tc := range []struct {
		name    string
		payload string
		want    []want
	}{
		{"senml minimal, time is now", `[{"n":"pm25","u":"ug/m3","v":42.5}]`,
			[]want{{metric: "pm25", unit: "ug/m3", kind: event.KindNumber, v: 42.5, ms: nowMs}}},
		{"base name, time, unit and value resolve", `[{"bn":"air.","bt":` + ftoa(t0) + `,"bu":"ug/m3","bv":10,"n":"pm25","v":2.5},{"n":"pm10","t":1,"v":5},{"n":"temp","u":"Cel","v":20}]`,
			[]want{
				{metric: "air.pm25", unit: "ug/m3", kind: event.KindNumber, v: 12.5, ms: nowMs - 60000, fromSource: true},
				{metric: "air.pm10", unit: "ug/m3", kind: event.KindNumber, v: 15, ms: nowMs - 59000, fromSource: true},
				{metric: "air.temp", unit: "Cel", kind: event.KindNumber, v: 30, ms: nowMs - 60000, fromSource: true},
			}},
		{"relative time is relative to now", `[{"n":"level","v":1.2,"t":-5}]`,
			[]want{{metric: "level", kind: event.KindNumber, v: 1.2, ms: nowMs - 5000, fromSource: true}}},
		{"string and bool values", `[{"n":"status","vs":"Báo động 1"},{"n":"on","vb":true}]`,
			[]want{{metric: "status", kind: event.KindString, vs: "Báo động 1", ms: nowMs}, {metric: "on", kind: event.KindBool, vb: true, ms: nowMs}}},
		{"base-only record sets context", `[{"bn":"x/"},{"n":"a","v":1}]`,
			[]want{{metric: "x/a", kind: event.KindNumber, v: 1, ms: nowMs}}},
		{"plain form with RFC 3339 time", `{"time":"2026-11-24T21:59:00+07:00","values":{"rain":3.5},"units":{"rain":"mm/h"}}`,
			[]want{{metric: "rain", unit: "mm/h", kind: event.KindNumber, v: 3.5, ms: nowMs - 60000, fromSource: true}}},
		{"plain form with epoch ms and string", `{"time":` + itoa(nowMs-1000) + `,"values":{"status":"Bình thường"}}`,
			[]want{{metric: "status", kind: event.KindString, vs: "Bình thường", ms: nowMs - 1000, fromSource: true}}},
		{"plain form without time", ` {"values":{"on":false}}`,
			[]want{{metric: "on", kind: event.KindBool, ms: nowMs}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dec().Decode(nil, "vnpt", "aq-1", []byte(tc.payload), now)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d readings, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Metric != w.metric || g.Unit != w.unit || g.Kind != w.kind || g.Value != w.v || g.String != w.vs ||
					g.Bool != w.vb || g.ObservedMs != w.ms || g.TimeFromSource != w.fromSource {
					t.Errorf("reading %d = %+v, want %+v", i, g, w)
				}
				if g.Partner != "vnpt" || g.DeviceID != "aq-1" || g.ReceivedMs != nowMs {
					t.Errorf("reading %d: partner/device/received = %s/%s/%d", i, g.Partner, g.DeviceID, g.ReceivedMs)
				}
				if g.ID != event.ReadingID("vnpt", "aq-1", w.metric, w.ms) {
					t.Errorf("reading %d: id %s is not the deterministic id", i, g.ID)
				}
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		reason  event.Reason
	}{
		{"empty", "  ", event.ReasonEmpty},
		{"empty array", `[]`, event.ReasonEmpty},
		{"not json", `hello`, event.ReasonNotJSON},
		{"truncated", `[{"n":"a","v":1}`, event.ReasonNotJSON},
		{"NaN literal", `[{"n":"a","v":NaN}]`, event.ReasonBadValue},
		{"Infinity literal", `{"values":{"a":Infinity}}`, event.ReasonBadValue},
		{"missing value", `[{"n":"a","u":"m"}]`, event.ReasonMissingValue},
		{"missing name", `[{"v":1}]`, event.ReasonMissingName},
		{"bad name", `[{"n":"pm 2.5","v":1}]`, event.ReasonMissingName},
		{"value wrong type", `[{"n":"a","v":"1"}]`, event.ReasonBadSenML},
		{"invalid utf8", "[{\"n\":\"a\",\"vs\":\"\xff\"}]", event.ReasonInvalidUTF8},
		{"time in the future", `[{"n":"a","v":1,"t":4102444800}]`, event.ReasonBadTime},
		{"time too old", `[{"n":"a","v":1,"t":1000000000}]`, event.ReasonBadTime},
		{"time absurd", `[{"n":"a","v":1,"t":1e300}]`, event.ReasonBadTime},
		{"data value", `[{"n":"a","vd":"AAE="}]`, event.ReasonBadValue},
		{"plain unknown field", `{"values":{"a":1},"extra":1}`, event.ReasonBadRecord},
		{"plain no values", `{"time":"2026-11-24T21:59:00+07:00"}`, event.ReasonMissingValue},
		{"plain null value", `{"values":{"a":null}}`, event.ReasonMissingValue},
		{"plain bad time", `{"time":"yesterday","values":{"a":1}}`, event.ReasonBadTime},
		{"plain object value", `{"values":{"a":{"b":1}}}`, event.ReasonBadValue},
		{"oversize", `[{"n":"a","vs":"` + string(make([]byte, 5000)) + `"}]`, event.ReasonOversize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dec().Decode(nil, "vnpt", "aq-1", []byte(tc.payload), now)
			var ve *event.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Decode = %+v, %v; want a validation error %s", got, err, tc.reason)
			}
			if ve.Reason != tc.reason {
				t.Errorf("reason = %s (%s), want %s", ve.Reason, ve.Detail, tc.reason)
			}
			if len(got) != 0 {
				t.Errorf("a rejected message must yield no readings, got %d", len(got))
			}
		})
	}
}

// FuzzDecode: no input may panic, and whatever is accepted is valid.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[{"n":"pm25","u":"ug/m3","v":42.5}]`, `{"values":{"a":1}}`, `[{"bn":"a","bt":1.7e9,"n":"b","vs":"Sơn La"}]`, `[`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := dec().Decode(nil, "vnpt", "dev", b, now)
		if err != nil {
			var ve *event.ValidationError
			if !errors.As(err, &ve) || ve.Reason == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		for _, r := range rs {
			if err := r.Validate(event.DefaultLimits); err != nil {
				t.Fatalf("accepted an invalid reading %+v: %v", r, err)
			}
			if r.Kind == event.KindNumber && (math.IsNaN(r.Value) || math.IsInf(r.Value, 0)) {
				t.Fatalf("accepted a non-finite value")
			}
		}
	})
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
