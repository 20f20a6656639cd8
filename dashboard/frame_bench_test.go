package dashboard

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sonla-ioc/ioc/internal/event"
)

// BenchmarkEncodeFrame encodes a frame of 500 changed readings, what the
// wall gets every flush at 5,000 readings/s and 100 ms.
func BenchmarkEncodeFrame(b *testing.B) {
	f := Frame{Type: "readings", ServerMs: 1764000000000}
	for i := 0; i < 500; i++ {
		f.Readings = append(f.Readings, event.Reading{ID: fmt.Sprintf("%032x", i), Partner: "viettel", DeviceID: fmt.Sprintf("aq-%04d", i),
			Metric: "pm25", Kind: event.KindNumber, Value: float64(i) / 10, Unit: "ug/m3", ObservedMs: 1764000000000 + int64(i),
			ReceivedMs: 1764000000100, TimeFromSource: true, Ward: "Phường Chiềng Lề", Registered: true})
	}
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := json.Marshal(&f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := encodeFrame(&f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
