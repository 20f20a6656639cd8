package event

import (
	"errors"
	"strings"
	"testing"
)

// Topics a hostile or broken publisher may use, with their outcome.
func TestParseSensorTopicTable(t *testing.T) {
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
		p, d, err := ParseSensorTopic(tc.topic, tc.mount)
		var ve *ValidationError
		switch {
		case tc.partner != "" && (err != nil || p != tc.partner || d != tc.device):
			t.Errorf("%q: got %q %q %v, want %q %q", tc.topic, p, d, err, tc.partner, tc.device)
		case tc.partner == "" && (!errors.As(err, &ve) || ve.Reason != ReasonBadTopic):
			t.Errorf("%q: got %q %q %v, want bad_topic", tc.topic, p, d, err)
		}
	}
}

// FuzzParseSensorTopic: no panic; an accepted topic yields ids that are safe
// everywhere and rebuild the topic.
func FuzzParseSensorTopic(f *testing.F) {
	for _, s := range []string{"sensors/vnpt/aq-1", "$SYS/x", "sensors/+/#", "sensors/a/b/c", "m/sensors/a/b", "sensors/vnpt/<b>"} {
		f.Add(s, "")
		f.Add(s, "m/")
	}
	f.Fuzz(func(t *testing.T, topic, mount string) {
		p, d, err := ParseSensorTopic(topic, mount)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason != ReasonBadTopic {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !ValidID(p) || !ValidID(d) || strings.ContainsAny(p+d, "+#$/<>'\" \r\n\x1b") {
			t.Fatalf("unsafe ids %q %q", p, d)
		}
		if mount+"sensors/"+p+"/"+d != topic {
			t.Fatalf("%q parsed as %q/%q", topic, p, d)
		}
	})
}

// The partner of a dead letter's topic, whatever the rest of it.
func TestSensorTopicPartner(t *testing.T) {
	for _, tc := range []struct {
		topic, partner string
		ok             bool
	}{
		{"sensors/vnpt/aq-1", "vnpt", true},
		{"e2e1/sensors/viettel/aq-1", "viettel", true},
		{"sensors/vnpt/aq-1/extra", "vnpt", true},
		{"sensors/vnpt/thiết-bị", "vnpt", true},
		{"sensors/vnpt", "vnpt", true},
		{"sensors/+/aq-1", "+", false},
		{"sensors/", "", false},
		{"sensors", "", false},
		{"mysensors/vnpt/aq-1", "", false},
		{"$SYS/broker/uptime", "", false},
	} {
		p, ok := SensorTopicPartner(tc.topic)
		if p != tc.partner || ok != tc.ok {
			t.Errorf("%q: got %q %v, want %q %v", tc.topic, p, ok, tc.partner, tc.ok)
		}
	}
	if got := SensorTopic("vnpt", "aq-1"); got != "sensors/vnpt/aq-1" {
		t.Errorf("SensorTopic = %q", got)
	}
}
