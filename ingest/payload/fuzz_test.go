package payload

import (
	"errors"
	"math"
	"testing"

	"github.com/sonla-ioc/ioc/internal/event"
)

// fuzzDecode is the property every decoder fuzz target checks: no panic;
// a refusal carries a reason; whatever is accepted passes the checks
// stream applies again, lies in its plausible range and is finite.
func fuzzDecode(t *testing.T, b []byte) {
	d := Decoder{MaxBytes: 64 << 10, Limits: event.DefaultLimits}
	rs, err := d.Decode(nil, "vnpt", "dev", b, now)
	if err != nil {
		var ve *event.ValidationError
		if !errors.As(err, &ve) || ve.Reason == "" {
			t.Fatalf("error without reason: %v", err)
		}
		if len(rs) != 0 {
			t.Fatalf("refused with %d readings", len(rs))
		}
		return
	}
	if len(rs) == 0 || len(rs) > MaxRecords {
		t.Fatalf("accepted %d readings", len(rs))
	}
	for _, r := range rs {
		if err := r.Validate(event.DefaultLimits); err != nil {
			t.Fatalf("accepted an invalid reading %+v: %v", r, err)
		}
		if r.Kind == event.KindNumber && (math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || math.Abs(r.Value) >= maxExactInt) {
			t.Fatalf("accepted value %v", r.Value)
		}
		if p, ok := plausibility[r.Metric]; ok && r.Kind == event.KindNumber && (r.Value < p.min || r.Value > p.max) {
			t.Fatalf("accepted implausible %s = %v", r.Metric, r.Value)
		}
		if r.DeviceID != "dev" || r.Partner != "vnpt" {
			t.Fatalf("reading of %s/%s from topic vnpt/dev", r.Partner, r.DeviceID)
		}
	}
}

func seedBadInputs(f *testing.F, first byte) {
	for _, c := range BadInputs(now) {
		if len(c.Payload) < 64<<10 && (first == 0 || len(c.Payload) > 0 && c.Payload[0] == first) {
			f.Add([]byte(c.Payload))
		}
	}
}

// FuzzDecodeSenML: SenML packs (the input always starts with '[').
func FuzzDecodeSenML(f *testing.F) {
	seedBadInputs(f, '[')
	f.Add([]byte(`[{"bn":"urn:dev:mac:dev:","bt":1.7643e9,"bu":"ug/m3","n":"pm25","v":1},{"n":"pm10","t":1,"v":2}]`))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, append([]byte{'['}, b...)) })
}

// FuzzDecodePlain: the plain JSON form (the input always starts with '{').
func FuzzDecodePlain(f *testing.F) {
	seedBadInputs(f, '{')
	f.Add([]byte(`{"time":"2026-11-24T21:59:00+07:00","values":{"rain":3.5,"s":"Báo động 1","on":true},"units":{"rain":"mm/h"}}`))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, append([]byte{'{'}, b...)) })
}

// FuzzDecodeAny: any bytes, seeded with the whole bad-input catalogue.
func FuzzDecodeAny(f *testing.F) {
	seedBadInputs(f, 0)
	f.Fuzz(fuzzDecode)
}

// FuzzCheckKeys: the key scanner never panics on any JSON, and never
// refuses an object whose keys are distinct ignoring case.
func FuzzCheckKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":{"a":2}}`, `[{"n":"x","v":1},{"n":"y"}]`, `{"a\"b":1,"A\"B":2}`, `"x"`, `{"k":["a","b",{"c":1}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = checkKeys(b, senmlKeys, 2) // must not panic, valid JSON or not
	})
}
