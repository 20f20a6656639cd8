package event

import (
	"errors"
	"testing"
	"time"
)

// FuzzDecodeAdmin: every administrative event kind, any bytes. No panic;
// a refusal carries a reason; an event that decodes and is prepared has
// an id, and preparing its re-encoding gives the same id (a replay of it
// is recognised downstream).
func FuzzDecodeAdmin(f *testing.F) {
	for i := range AdminKinds {
		for _, s := range []string{`{}`, `{"id":"x"}`, `{"reported_at":"2201-01-01T00:00:00+07:00"}`, `{"source":"<script>"}`, `[`, "\xff", `{"a":1e309}`} {
			f.Add(uint8(i), []byte(s))
		}
	}
	recv := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC).UnixMilli()
	f.Fuzz(func(t *testing.T, k uint8, b []byte) {
		kind := AdminKinds[int(k)%len(AdminKinds)]
		ev, err := DecodeAdmin(kind, b)
		if err == nil {
			err = PrepareAdmin(ev, recv, DefaultAdminLimits)
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		id := ev.Meta().ID
		out, err := MarshalAdmin(ev)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		again, err := DecodeAdmin(kind, out)
		if err == nil {
			err = PrepareAdmin(again, recv, DefaultAdminLimits)
		}
		if err != nil || again.Meta().ID != id {
			t.Fatalf("%s event %s re-encoded: %v, id %q", kind, id, err, again.Meta().ID)
		}
	})
}
