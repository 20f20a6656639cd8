package payload

import (
	"errors"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

func TestBadInputTable(t *testing.T) {
	d := Decoder{MaxBytes: 256 << 10, Limits: event.DefaultLimits}
	for _, tc := range BadInputs(now) {
		t.Run(tc.Class, func(t *testing.T) {
			rs, err := d.Decode(nil, "vnpt", "dev", []byte(tc.Payload), now)
			if tc.Reason == "" {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				if len(rs) == 0 {
					t.Fatal("accepted with no readings")
				}
				for _, r := range rs {
					if r.TimeFromSource == tc.NoTime {
						t.Errorf("time_from_source = %v, want %v", r.TimeFromSource, !tc.NoTime)
					}
					if err := r.Validate(event.DefaultLimits); err != nil {
						t.Errorf("accepted an invalid reading: %v", err)
					}
				}
				return
			}
			var ve *event.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want dead letter %s, got %d readings, err %v", tc.Reason, len(rs), err)
			}
			if ve.Reason != tc.Reason {
				t.Errorf("reason %s (%s), want %s", ve.Reason, ve.Detail, tc.Reason)
			}
			if len(rs) != 0 {
				t.Errorf("a dead-lettered message yielded %d readings", len(rs))
			}
		})
	}
}

// Observation times keep the city's calendar: 23:30 on the last day of a
// month stays in that month, and 00:30 on the first (still the previous
// month in UTC) is in the new one.
func TestObservationTimeKeepsTheCityCalendar(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 10, 31, 23, 30, 0, 0, event.Location),
		time.Date(2026, 11, 1, 0, 30, 0, 0, event.Location),
	} {
		body := `{"time":"` + at.Format(time.RFC3339) + `","values":{"x":1}}`
		rs, err := Decoder{Limits: event.DefaultLimits}.Decode(nil, "vnpt", "dev", []byte(body), at.Add(time.Minute))
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: %v", body, err)
		}
		got := time.UnixMilli(rs[0].ObservedMs).In(event.Location)
		if got.Month() != at.Month() || got.Day() != at.Day() {
			t.Errorf("%s: observed %s, want the city's %s", body, got, at)
		}
	}
}
