package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// A flood of random device ids from one partner is capped: the first
// max_unregistered_devices are accepted (registered = 0), the next are
// dead-lettered, devices already seen keep reporting, registered devices
// and other partners are unaffected.
func TestUnregisteredDeviceFloodIsCapped(t *testing.T) {
	s, err := New(Config{RegistryFile: "../deploy/devices.csv", MaxUnregistered: 50}, kafkaconn.Config{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1764000000000)
	body := []byte(`[{"n":"pm25","v":1}]`)
	accepted, capped := 0, 0
	for i := range 200 {
		_, err := s.decode(fmt.Sprintf("sensors/vnpt/flood-%d", i), body, now)
		var ve *event.ValidationError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &ve) && ve.Reason == event.ReasonUnregisteredLimit:
			capped++
		default:
			t.Fatalf("flood-%d: %v", i, err)
		}
	}
	if accepted != 50 || capped != 150 {
		t.Errorf("accepted %d, capped %d; want 50, 150", accepted, capped)
	}
	for _, topic := range []string{"sensors/vnpt/flood-7", "sensors/viettel/aq-chieng-le", "sensors/viettel/flood-999"} {
		if _, err := s.decode(topic, body, now); err != nil {
			t.Errorf("%s: %v", topic, err)
		}
	}
}
