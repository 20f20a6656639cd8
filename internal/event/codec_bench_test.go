package event

import (
	"encoding/json"
	"testing"
)

var benchReading = Reading{ID: "6f1d2c3b4a5968778695a4b3c2d1e0f1", Partner: "viettel", DeviceID: "aq-chieng-le", Metric: "pm25",
	Kind: KindNumber, Value: 42.5, Unit: "ug/m3", ObservedMs: 1764000000123, ReceivedMs: 1764000000150, TimeFromSource: true,
	Ward: "Phường Chiềng Lề", Registered: true}

// BenchmarkMarshalReading: what ingest does for every reading.
func BenchmarkMarshalReading(b *testing.B) {
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := json.Marshal(&benchReading); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := MarshalReading(&benchReading); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUnmarshalReading: what stream and the dashboard do for every
// reading.
func BenchmarkUnmarshalReading(b *testing.B) {
	rec, _ := json.Marshal(&benchReading)
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var r Reading
			if err := json.Unmarshal(rec, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var r Reading
			if err := UnmarshalReading(rec, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
