package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Topics a hostile or broken publisher may use, with their outcome.
func TestParseTopicTable(t *testing.T) {
	for _, tc := range []struct {
		topic, mount    string
		partner, device string // "" = bad_topic
	}{
		{"sensors/vnpt/aq-1", "", "vnpt", "aq-1"},
		{"sensors/vnpt/urn:dev:mac:0a1b", "", "vnpt", "urn:dev:mac:0a1b"},
		{"sensors/vnpt/aq_1.b", "", "vnpt", "aq_1.b"},
		{"e2e1/sensors/vnpt/aq-1", "e2e1/", "vnpt", "aq-1"},
		{"sensors/vnpt/+", "", "", ""},
		{"sensors/vnpt/#", "", "", ""},
		{"sensors/+/aq-1", "", "", ""},
		{"$SYS/broker/uptime", "", "", ""},
		{"sensors/$SYS/aq-1", "", "", ""},
		{"sensors/vnpt/$aq", "", "", ""},
		{"sensors/vnpt", "", "", ""},
		{"sensors/vnpt/aq-1/extra", "", "", ""},
		{"sensors/vnpt/", "", "", ""},
		{"sensors//aq-1", "", "", ""},
		{"/sensors/vnpt/aq-1", "", "", ""},
		{"Sensors/vnpt/aq-1", "", "", ""},
		{"sensors/vnpt/aq-1'; DROP TABLE x; --", "", "", ""},
		{"sensors/vnpt/<script>alert(1)</script>", "", "", ""},
		{"sensors/vnpt/aq\r\n1", "", "", ""},
		{"sensors/vnpt/aq\x1b[31m", "", "", ""},
		{"sensors/vnpt/thiết-bị", "", "", ""},
		{"sensors/vnpt/-aq", "", "", ""},
		{"sensors/vnpt/" + strings.Repeat("a", 129), "", "", ""},
		{"sensors/vnpt/" + strings.Repeat("a", 128), "", "vnpt", strings.Repeat("a", 128)},
		{"sensors/vnpt/aq-1", "e2e1/", "", ""},
	} {
		p, d, err := ParseTopic(tc.topic, tc.mount)
		var ve *event.ValidationError
		switch {
		case tc.partner != "" && (err != nil || p != tc.partner || d != tc.device):
			t.Errorf("%q: got %q %q %v, want %q %q", tc.topic, p, d, err, tc.partner, tc.device)
		case tc.partner == "" && (!errors.As(err, &ve) || ve.Reason != event.ReasonBadTopic):
			t.Errorf("%q: got %q %q %v, want bad_topic", tc.topic, p, d, err)
		}
	}
}

// FuzzParseTopic: no panic; an accepted topic yields ids that are safe
// everywhere and rebuild the topic.
func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"sensors/vnpt/aq-1", "$SYS/x", "sensors/+/#", "sensors/a/b/c", "m/sensors/a/b", "sensors/vnpt/<b>"} {
		f.Add(s, "")
		f.Add(s, "m/")
	}
	f.Fuzz(func(t *testing.T, topic, mount string) {
		p, d, err := ParseTopic(topic, mount)
		if err != nil {
			var ve *event.ValidationError
			if !errors.As(err, &ve) || ve.Reason != event.ReasonBadTopic {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !validID(p) || !validID(d) || strings.ContainsAny(p+d, "+#$/<>'\" \r\n\x1b") {
			t.Fatalf("unsafe ids %q %q", p, d)
		}
		if mount+"sensors/"+p+"/"+d != topic {
			t.Fatalf("%q parsed as %q/%q", topic, p, d)
		}
	})
}

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
