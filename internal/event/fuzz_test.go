package event

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzUnmarshalReading: the reading records stream decodes from Kafka. No
// input panics; a record that decodes and validates survives a round trip
// unchanged, so what stream stores is what was produced.
func FuzzUnmarshalReading(f *testing.F) {
	now := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC).UnixMilli()
	good := Reading{Partner: "vnpt", DeviceID: "aq-1", Metric: "pm25", Kind: KindNumber, Value: 42.5, Unit: "ug/m3", ObservedMs: now, ReceivedMs: now}
	good.ID = ReadingID(good.Partner, good.DeviceID, good.Metric, good.ObservedMs)
	b, _ := MarshalReading(&good)
	for _, s := range []string{string(b), `{}`, `{"kind":1,"v":1e308}`, `{"t":-1}`, `{"id":"x","partner":"p","device_id":"d","metric":"m","kind":2,"vs":"\u001b[2J"}`, `[`, `null`, `{"t":4102444800000}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Reading
		if err := UnmarshalReading(b, &r); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason != ReasonNotJSON {
				t.Fatalf("error %v", err)
			}
			return
		}
		if err := r.Validate(NoWindow); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason == "" {
				t.Fatalf("validation error without reason: %v", err)
			}
			return
		}
		if r.ObservedMs <= 0 || r.ObservedMs >= maxDateTimeMs {
			t.Fatalf("valid reading with time %d that DateTime cannot hold", r.ObservedMs)
		}
		out, err := MarshalReading(&r)
		if err != nil {
			t.Fatalf("re-encoding a valid reading: %v", err)
		}
		var back Reading
		if err := UnmarshalReading(out, &back); err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip changed %+v into %+v (%v)", r, back, err)
		}
	})
}

// FuzzUnmarshalDeadLetter: the dead-letter records stream decodes from
// Kafka. No input panics; a decoded dead letter round-trips, raw bytes
// included.
func FuzzUnmarshalDeadLetter(f *testing.F) {
	dl := NewDeadLetter("mqtt", "sensors/vnpt/x", []byte("\xff\x00garbage"), 1764000000000, Invalid(ReasonInvalidUTF8, "x"))
	b, _ := MarshalDeadLetter(&dl)
	for _, s := range []string{string(b), `{}`, `{"raw":"!!"}`, `{"raw":null,"rt":-5}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d DeadLetter
		if err := UnmarshalDeadLetter(b, &d); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason != ReasonNotJSON {
				t.Fatalf("error %v", err)
			}
			return
		}
		out, err := MarshalDeadLetter(&d)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		var back DeadLetter
		if err := UnmarshalDeadLetter(out, &back); err != nil || !reflect.DeepEqual(normRaw(back), normRaw(d)) {
			t.Fatalf("round trip changed %+v into %+v (%v)", d, back, err)
		}
	})
}

func normRaw(d DeadLetter) DeadLetter {
	if len(d.Raw) == 0 {
		d.Raw = nil
	}
	return d
}
