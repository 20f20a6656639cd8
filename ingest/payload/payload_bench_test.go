package payload

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// loadPack is a SenML pack of n readings as the load generator publishes
// it (bench.AppendPack, copied here because bench imports this package):
// a base time in seconds with three decimals on the first record, then
// name, unit and value on every record.
func loadPack(at time.Time, n int) []byte {
	names := []struct {
		name, unit string
		lo, span   float64
	}{
		{"pm25", "ug/m3", 5, 80}, {"pm10", "ug/m3", 10, 120}, {"co", "ug/m3", 300, 3000}, {"no2", "ug/m3", 5, 80},
		{"temperature", "Cel", 15, 20}, {"humidity", "%RH", 40, 55}, {"level", "m", 0.5, 3}, {"rain", "mm/h", 0, 30},
		{"vehicles", "1/min", 0, 150}, {"speed", "km/h", 10, 60},
	}
	b := []byte(`[{"bt":`)
	b = strconv.AppendFloat(b, float64(at.UnixMicro())/1e6, 'f', 3, 64)
	b = append(b, ',')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ",{"...)
		}
		m := names[i%len(names)]
		b = append(b, `"n":"`...)
		b = append(b, m.name...)
		b = append(b, `","u":"`...)
		b = append(b, m.unit...)
		b = append(b, `","v":`...)
		frac := float64((7+i*13)%1000) / 1000
		b = strconv.AppendFloat(b, math.Round((m.lo+m.span*frac)*10)/10, 'f', 1, 64)
		b = append(b, '}')
	}
	return append(b, ']')
}

// BenchmarkDecodeSenML: what ingest does with every MQTT message of the
// load generator (a five-reading pack). decode is the whole Decoder;
// fast and reference are the SenML decoder with and without its fast
// path (decodeSenML, decodeSenMLReference), on the same pack in the same
// run.
func BenchmarkDecodeSenML(b *testing.B) {
	pack := loadPack(now.Add(-time.Second), 5)
	d := Decoder{MaxBytes: 256 << 10, Limits: event.DefaultLimits}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pack)))
		for i := 0; i < b.N; i++ {
			if _, err := d.Decode(nil, "vnpt", "aq-0001", pack, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name   string
		decode func([]event.Reading, string, string, []byte, time.Time) ([]event.Reading, error)
	}{{"fast", decodeSenML}, {"reference", decodeSenMLReference}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pack)))
			for i := 0; i < b.N; i++ {
				if rs, err := c.decode(nil, "vnpt", "aq-0001", pack, now); err != nil || len(rs) != 5 {
					b.Fatal(len(rs), err)
				}
			}
		})
	}
}
