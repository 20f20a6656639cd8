package ingest

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

func TestDecodeTopicWithAndWithoutMountPoint(t *testing.T) {
	now := time.UnixMilli(1764000000000)
	body := []byte(`[{"n":"pm25","v":1}]`)
	for name, tc := range map[string]struct {
		mount, topic string
		want         event.Reason // "" = accepted
	}{
		"plain":                 {"", "sensors/vnpt/aq-1", ""},
		"plain, unknown":        {"", "sensors/acme/aq-1", event.ReasonBadTopic},
		"plain, prefixed topic": {"", "bench/1/sensors/vnpt/aq-1", event.ReasonBadTopic},
		"mounted":               {"bench/1/", "bench/1/sensors/vnpt/aq-1", ""},
		"mounted, outside":      {"bench/1/", "sensors/vnpt/aq-1", event.ReasonBadTopic},
		"mounted, other run":    {"bench/1/", "bench/2/sensors/vnpt/aq-1", event.ReasonBadTopic},
	} {
		cfg := Config{MQTT: MQTTConfig{MountPoint: tc.mount}}
		s, err := New(cfg, kafkaconn.Config{}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rs, err := s.decode(tc.topic, body, now)
		var ve *event.ValidationError
		switch {
		case tc.want == "" && (err != nil || len(rs) != 1 || rs[0].DeviceID != "aq-1"):
			t.Errorf("%s: got %v, %v; want one reading of aq-1", name, rs, err)
		case tc.want != "" && (!errors.As(err, &ve) || ve.Reason != tc.want):
			t.Errorf("%s: got error %v, want reason %s", name, err, tc.want)
		}
	}
}

func TestMountPointSetsTheFilter(t *testing.T) {
	c := Config{MQTT: MQTTConfig{MountPoint: "bench/7/"}}
	c.Defaults()
	if c.MQTT.Topic != "bench/7/sensors/+/+" {
		t.Errorf("filter %q", c.MQTT.Topic)
	}
	for _, bad := range []string{"bench/7", "bench/+/", "/x/"} {
		c := Config{MQTT: MQTTConfig{MountPoint: bad}}
		c.Defaults()
		if c.Validate() == nil {
			t.Errorf("mount point %q accepted", bad)
		}
	}
}
