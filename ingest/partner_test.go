package ingest

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// A partner may publish only as its own devices: a registered device under
// another partner's topic is refused with partner_mismatch; an unregistered
// device is still accepted (flagged unregistered).
func TestPartnerMustMatchTheRegistry(t *testing.T) {
	s, err := New(Config{RegistryFile: "../deploy/devices.csv"}, kafkaconn.Config{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := s.reg.Load().Lookup("aq-chieng-le")
	if dev == nil || dev.Partner != "viettel" {
		t.Fatalf("deploy/devices.csv: aq-chieng-le should be a viettel device, got %+v", dev)
	}
	now := time.UnixMilli(1764000000000)
	body := []byte(`[{"n":"pm25","v":1}]`)
	for _, tc := range []struct {
		topic      string
		want       event.Reason // "" = accepted
		registered bool
	}{
		{"sensors/viettel/aq-chieng-le", "", true},
		{"sensors/vnpt/aq-chieng-le", event.ReasonPartnerMismatch, false},
		{"sensors/vnpt/not-in-the-registry", "", false},
	} {
		rs, err := s.decode(tc.topic, body, now)
		var ve *event.ValidationError
		switch {
		case tc.want == "" && (err != nil || len(rs) != 1 || rs[0].Registered != tc.registered):
			t.Errorf("%s: got %+v, %v; want one reading, registered=%v", tc.topic, rs, err, tc.registered)
		case tc.want != "" && (!errors.As(err, &ve) || ve.Reason != tc.want):
			t.Errorf("%s: got error %v, want reason %s", tc.topic, err, tc.want)
		}
	}
}
