package monitor

import (
	"testing"

	"github.com/sonla-ioc/ioc/internal/event"
)

// A station's pollutant readings become a derived vn_aqi reading at most
// once a minute of data time, and at once when the category changes.
func TestAQIPublishesDerivedReadings(t *testing.T) {
	a := NewAQI(testStatusConfig())
	var got []event.Reading
	// three hours of PM2.5 at 37.5 µg/m³, every 10 s: VN_AQI 75
	for at := 0; at < 3*3600; at += 10 {
		if d, ok := a.Observe(num("aq-1", "pm25", "ug/m3", 37.5, t0+sec(at))); ok {
			got = append(got, d)
		}
	}
	// The NowCast needs two of the last three hours: nothing in the first.
	if n := len(got); n < 100 || n > 181 {
		t.Errorf("%d values published over 3 hours, want about one a minute from the second hour", n)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].ObservedMs - got[i-1].ObservedMs; gap < 60000 {
			t.Errorf("two values %d ms apart without a category change", gap)
		}
	}
	last := got[len(got)-1]
	if last.Value != 75 || last.Metric != event.MetricVNAQI || !last.Derived || last.Unit != "VN_AQI" || last.String != "pm25" ||
		last.ID != event.ReadingID("viettel", "aq-1", event.MetricVNAQI, last.ObservedMs) {
		t.Errorf("derived reading: %+v", last)
	}
	if err := last.Validate(event.NoWindow); err != nil {
		t.Errorf("derived reading is not a valid reading: %v", err)
	}
	// a replayed reading is not counted again
	if _, ok := a.Observe(num("aq-1", "pm25", "ug/m3", 900, t0+sec(100))); ok {
		t.Error("an old reading published a value")
	}
	// a jump to 400 µg/m³: every value that changes the category is
	// published at once, not at the next minute
	at := t0 + sec(3*3600)
	changes := 0
	for i := 0; i < 400; i++ {
		at += 5000
		before, _ := a.Current("aq-1")
		d, ok := a.Observe(num("aq-1", "pm25", "ug/m3", 400, at))
		after, _ := a.Current("aq-1")
		if after.Category() != before.Category() {
			changes++
			if !ok || int(d.Value) != after.AQI {
				t.Errorf("category %v → %v at %d not published (%v %v)", before.Category(), after.Category(), at, ok, d.Value)
			}
		}
	}
	if changes < 2 {
		t.Errorf("only %d category changes while PM2.5 rose to 400 µg/m³", changes)
	}
	// readings that are not pollutants, or in units that cannot be converted, are ignored
	if _, ok := a.Observe(num("aq-1", "temperature", "Cel", 30, at+1000)); ok {
		t.Error("temperature published a VN_AQI")
	}
	if _, ok := a.Observe(num("aq-1", "no2", "ppb", 30, at+2000)); ok {
		t.Error("NO2 in ppb published a VN_AQI")
	}
}

// The hourly means seeded from ClickHouse are the NowCast's history.
func TestAQISeed(t *testing.T) {
	a := NewAQI(testStatusConfig())
	h0 := (t0 / hourMs) * hourMs
	for i := 1; i <= 11; i++ {
		a.Seed("viettel", "aq-1", "pm25", "ug/m3", h0-int64(i)*hourMs, 120*10, 10, h0-int64(i)*hourMs+1000) // 120 µg/m³
	}
	d, ok := a.Observe(num("aq-1", "pm25", "ug/m3", 120, h0+1000))
	if !ok || d.Value != 179 {
		t.Errorf("seeded station: %v %v, want VN_AQI 179 (PM2.5 120 µg/m³)", ok, d.Value)
	}
}
