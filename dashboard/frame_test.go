package dashboard

import (
	"encoding/json"
	"testing"

	"github.com/sonla-ioc/ioc/internal/event"
)

func TestEncodeFrameLikeEncodingJSON(t *testing.T) {
	rs := []event.Reading{
		{ID: "a", Partner: "vnpt", DeviceID: "aq-1", Metric: "pm25", Kind: event.KindNumber, Value: 42.5, Unit: "ug/m3", ObservedMs: 1, ReceivedMs: 2},
		{ID: "b", Kind: event.KindString, String: `Báo động "1" <b>`, Ward: "Phường Chiềng Lề", Registered: true, Derived: true},
	}
	for _, f := range []Frame{
		{Type: "readings", ServerMs: 1764000000000, Readings: rs},
		{Type: "snapshot", ServerMs: 5, Readings: []event.Reading{}},
		{Type: "snapshot"},
	} {
		want, _ := json.Marshal(f)
		got, err := encodeFrame(&f)
		if err != nil || string(got) != string(want) {
			t.Errorf("encodeFrame:\n got %s (%v)\nwant %s", got, err, want)
		}
	}
}
