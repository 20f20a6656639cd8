package vnaqi

import (
	"math"
	"testing"
)

var nan = math.NaN()

func TestSubIndexBreakpoints(t *testing.T) {
	for _, tc := range []struct {
		p    Pollutant
		c    float64
		want float64
	}{
		// every breakpoint of Table 2 maps to its level
		{PM25, 0, 0}, {PM25, 25, 50}, {PM25, 50, 100}, {PM25, 80, 150}, {PM25, 150, 200},
		{PM25, 250, 300}, {PM25, 350, 400}, {PM25, 500, 500},
		{PM10, 50, 50}, {PM10, 150, 100}, {PM10, 250, 150}, {PM10, 350, 200}, {PM10, 420, 300}, {PM10, 500, 400}, {PM10, 600, 500},
		{O3, 160, 50}, {O3, 200, 100}, {O3, 300, 150}, {O3, 400, 200}, {O3, 800, 300}, {O3, 1000, 400}, {O3, 1200, 500},
		{NO2, 100, 50}, {NO2, 200, 100}, {NO2, 700, 150}, {NO2, 1200, 200}, {NO2, 2350, 300}, {NO2, 3100, 400}, {NO2, 3850, 500},
		{SO2, 125, 50}, {SO2, 350, 100}, {SO2, 550, 150}, {SO2, 800, 200}, {SO2, 1600, 300}, {SO2, 2100, 400}, {SO2, 2630, 500},
		{CO, 10000, 50}, {CO, 30000, 100}, {CO, 45000, 150}, {CO, 60000, 200}, {CO, 90000, 300}, {CO, 120000, 400}, {CO, 150000, 500},
		// interpolation inside a band: (100-50)/(50-25)*(37.5-25)+50 = 75
		{PM25, 37.5, 75},
		{PM25, 12.5, 25},
		{PM10, 100, 75},
		{CO, 20000, 75},
		// beyond the table: 500
		{PM25, 900, 500},
		{CO, 1e6, 500},
	} {
		got, ok := SubIndex(tc.p, tc.c)
		if !ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("SubIndex(%s, %v) = %v, %v; want %v", tc.p, tc.c, got, ok, tc.want)
		}
	}
	for _, c := range []float64{-1, nan, math.Inf(1)} {
		if _, ok := SubIndex(PM25, c); ok {
			t.Errorf("SubIndex(pm25, %v) ok, want missing", c)
		}
	}
	if _, ok := SubIndex("benzene", 1); ok {
		t.Error("SubIndex of an unknown pollutant is ok")
	}
}

func TestRoundHalfUp(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		want int
	}{
		{0, 0}, {0.49, 0}, {0.5, 1}, {50.5, 51}, {150.51, 151},
		{109.5, 110}, {109.49999999999, 110}, // floating-point noise of a .5
		{109.4999, 109},
	} {
		if got := Round(tc.x); got != tc.want {
			t.Errorf("Round(%v) = %d, want %d", tc.x, got, tc.want)
		}
	}
}

func TestNowcast(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hourly []float64
		want   float64
		ok     bool
	}{
		{"steady", []float64{40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40}, 40, true},
		// w* = 20/40 = 0.5 → w = 0.5: weights 1, .5, .25 over 40, 20, 20
		{"w at one half", []float64{40, 20, 20}, (40 + 0.5*20 + 0.25*20) / 1.75, true},
		// w* = 30/40 = 0.75: weights 1, .75, .5625
		{"w above one half", []float64{40, 30, 35}, (40 + 0.75*30 + 0.5625*35) / (1 + 0.75 + 0.5625), true},
		// w* = 10/100 → 0.5
		{"sharp rise", []float64{100, 10, 10, 10}, (100 + 5 + 2.5 + 1.25) / (1 + .5 + .25 + .125), true},
		// a missing hour weighs nothing but keeps its place (c3 gets w²)
		{"c2 missing", []float64{40, nan, 40}, 40, true},
		{"only c1", []float64{40, nan, nan, 40, 40}, 0, false},
		{"only c3 and c2 missing c1", []float64{nan, nan, 40}, 0, false},
		{"c1 missing", []float64{nan, 30, 30}, 30, true},
		{"empty", nil, 0, false},
		{"zeros", []float64{0, 0, 0}, 0, true},
		// hours beyond 12 are ignored: the 13th would otherwise set w*
		{"thirteen hours", []float64{50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 1}, 50, true},
	} {
		got, ok := Nowcast(tc.hourly)
		if ok != tc.ok || ok && math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: Nowcast(%v) = %v, %v; want %v, %v", tc.name, tc.hourly, got, ok, tc.want, tc.ok)
		}
	}
}

// With all twelve hours at w = 1/2 the weighted mean equals the guidance's
// Σ(1/2)^i·c_i within 0.03 %.
func TestNowcastMatchesGuidanceFormulaAtOneHalf(t *testing.T) {
	c := []float64{120, 20, 10, 15, 30, 12, 11, 10, 40, 20, 25, 10}
	var guidance float64
	for i, v := range c {
		guidance += math.Pow(0.5, float64(i+1)) * v
	}
	got, ok := Nowcast(c)
	if !ok || math.Abs(got-guidance)/guidance > 3e-4 {
		t.Errorf("Nowcast = %v, guidance formula %v", got, guidance)
	}
}

func TestHourly(t *testing.T) {
	steady := func(v float64) []float64 {
		s := make([]float64, 12)
		for i := range s {
			s[i] = v
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		in       map[Pollutant][]float64
		aqi      int
		ok       bool
		dominant Pollutant
		cat      Category
	}{
		{"pm25 steady 37.5", map[Pollutant][]float64{PM25: steady(37.5)}, 75, true, PM25, Moderate},
		{"pm10 dominates", map[Pollutant][]float64{PM25: steady(20), PM10: steady(200)}, 125, true, PM10, Poor},
		{"gas dominates", map[Pollutant][]float64{PM25: steady(10), NO2: {1200}}, 200, true, NO2, Bad},
		{"o3 1h column", map[Pollutant][]float64{PM10: steady(10), O3: {300}}, 150, true, O3, Poor},
		{"no pm: no index", map[Pollutant][]float64{NO2: {150}, CO: {5000}}, 0, false, "", 0},
		{"pm without enough recent hours", map[Pollutant][]float64{PM25: {30, nan, nan, 30}}, 0, false, "", 0},
		{"unhealthy", map[Pollutant][]float64{PM25: steady(120)}, 179, true, PM25, Bad},
		{"hazardous beyond the table", map[Pollutant][]float64{PM25: steady(800)}, 500, true, PM25, Hazardous},
		// tie: PM2.5 comes first
		{"tie", map[Pollutant][]float64{PM25: steady(25), PM10: steady(50)}, 50, true, PM25, Good},
	} {
		r := Hourly(tc.in)
		if r.OK != tc.ok || r.OK && (r.AQI != tc.aqi || r.Dominant != tc.dominant || r.Category() != tc.cat) {
			t.Errorf("%s: Hourly = %d ok=%v dominant %s category %v; want %d ok=%v %s %v (sub %v)",
				tc.name, r.AQI, r.OK, r.Dominant, r.Category(), tc.aqi, tc.ok, tc.dominant, tc.cat, r.Sub)
		}
	}
}

func TestDaily(t *testing.T) {
	in := Missing()
	in.PM25Mean24h = 37.5
	in.O3Max1h = 180  // 1h: 75
	in.O3Max8h = 110  // 8h: 75
	in.NO2Max1h = 150 // 75
	r := Daily(in)
	if !r.OK || r.AQI != 75 || r.Dominant != PM25 {
		t.Errorf("Daily = %d %v %s (%v), want 75 from pm25", r.AQI, r.OK, r.Dominant, r.Sub)
	}
	// O3: the larger of the 1-hour and 8-hour sub-indices
	in.O3Max8h = 170 // 8h column: 150
	if r := Daily(in); r.Sub[O3] != 150 || r.AQI != 150 || r.Dominant != O3 {
		t.Errorf("O3 8h 170: sub %v aqi %d dominant %s, want 150 from o3", r.Sub, r.AQI, r.Dominant)
	}
	// above 400 the 8-hour O3 is not used
	in.O3Max8h = 450
	if r := Daily(in); r.Sub[O3] != 75 {
		t.Errorf("O3 8h 450: sub %d, want the 1-hour sub-index 75 (180 µg/m³)", r.Sub[O3])
	}
	if r := Daily(Missing()); r.OK {
		t.Error("Daily without data is ok")
	}
}

func TestCategories(t *testing.T) {
	for _, tc := range []struct {
		aqi   int
		cat   Category
		key   string
		vi    string
		color string
	}{
		{0, Good, "good", "Tốt", "#00e400"},
		{50, Good, "good", "Tốt", "#00e400"},
		{51, Moderate, "moderate", "Trung bình", "#ffff00"},
		{100, Moderate, "moderate", "Trung bình", "#ffff00"},
		{101, Poor, "poor", "Kém", "#ff7e00"},
		{151, Bad, "bad", "Xấu", "#ff0000"},
		{200, Bad, "bad", "Xấu", "#ff0000"},
		{201, VeryBad, "very_bad", "Rất xấu", "#8f3f97"},
		{300, VeryBad, "very_bad", "Rất xấu", "#8f3f97"},
		{301, Hazardous, "hazardous", "Nguy hại", "#7e0023"},
		{500, Hazardous, "hazardous", "Nguy hại", "#7e0023"},
		{999, Hazardous, "hazardous", "Nguy hại", "#7e0023"},
	} {
		c := CategoryOf(tc.aqi)
		if c != tc.cat || c.Key() != tc.key || c.Vietnamese() != tc.vi || c.Color() != tc.color {
			t.Errorf("CategoryOf(%d) = %v %s %s %s, want %v %s %s %s", tc.aqi, c, c.Key(), c.Vietnamese(), c.Color(), tc.cat, tc.key, tc.vi, tc.color)
		}
		if p, ok := ParseCategory(tc.key); !ok || p != tc.cat {
			t.Errorf("ParseCategory(%q) = %v %v", tc.key, p, ok)
		}
	}
	if c, ok := ParseCategory("unhealthy"); !ok || c != Bad {
		t.Error(`"unhealthy" is not Bad`)
	}
	if _, ok := ParseCategory("terrible"); ok {
		t.Error(`"terrible" parsed`)
	}
	if lo, hi := Poor.Range(); lo != 101 || hi != 150 {
		t.Errorf("Poor.Range = %d..%d", lo, hi)
	}
}

func TestPollutantOf(t *testing.T) {
	for _, tc := range []struct {
		metric, unit string
		p            Pollutant
		f            float64
		ok           bool
	}{
		{"pm25", "ug/m3", PM25, 1, true},
		{"pm10", "", PM10, 1, true},
		{"co", "mg/m3", CO, 1000, true},
		{"no2", "ppb", "", 0, false},
		{"temperature", "Cel", "", 0, false},
	} {
		p, f, ok := PollutantOf(tc.metric, tc.unit)
		if p != tc.p || f != tc.f || ok != tc.ok {
			t.Errorf("PollutantOf(%q, %q) = %s %v %v", tc.metric, tc.unit, p, f, ok)
		}
	}
}
