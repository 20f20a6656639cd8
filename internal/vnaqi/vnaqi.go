// Package vnaqi computes the Vietnamese air quality index VN_AQI as the
// Vietnam Environment Administration's technical guidance prescribes
// (Decision 1459/QĐ-TCMT, 12 November 2019): the sub-index of each
// pollutant by linear interpolation between the breakpoints of its Table 2,
// the NowCast of PM2.5 and PM10 over the last 12 hours for the hourly
// index, the daily index from 24-hour means and daily maxima, and the six
// categories of Table 1 with their colours.
//
// All concentrations are in µg/m³, CO included (the guidance's unit).
// It is not the US EPA AQI: the breakpoints and the NowCast weights differ.
package vnaqi

import (
	"math"
)

// Pollutant is one of the six parameters of VN_AQI.
type Pollutant string

const (
	PM25 Pollutant = "pm25"
	PM10 Pollutant = "pm10"
	O3   Pollutant = "o3"
	NO2  Pollutant = "no2"
	SO2  Pollutant = "so2"
	CO   Pollutant = "co"
)

// Pollutants in the order used to pick the dominant one on a tie.
var Pollutants = []Pollutant{PM25, PM10, O3, NO2, SO2, CO}

// levels are the index values I_i of Table 2.
var levels = [8]float64{0, 50, 100, 150, 200, 300, 400, 500}

// Table 2 breakpoints BP_i (µg/m³). PM2.5 and PM10 are given for 24-hour
// means and are applied to the NowCast for the hourly index; O3 has a
// 1-hour and an 8-hour column (the 8-hour one stops at level 300).
var (
	bpO31h = []float64{0, 160, 200, 300, 400, 800, 1000, 1200}
	bpO38h = []float64{0, 100, 120, 170, 210, 400}
	bpCO   = []float64{0, 10000, 30000, 45000, 60000, 90000, 120000, 150000}
	bpSO2  = []float64{0, 125, 350, 550, 800, 1600, 2100, 2630}
	bpNO2  = []float64{0, 100, 200, 700, 1200, 2350, 3100, 3850}
	bpPM10 = []float64{0, 50, 150, 250, 350, 420, 500, 600}
	bpPM25 = []float64{0, 25, 50, 80, 150, 250, 350, 500}
)

// Breakpoints returns the Table 2 column of a pollutant (1-hour O3).
func Breakpoints(p Pollutant) []float64 {
	switch p {
	case PM25:
		return bpPM25
	case PM10:
		return bpPM10
	case O3:
		return bpO31h
	case NO2:
		return bpNO2
	case SO2:
		return bpSO2
	case CO:
		return bpCO
	}
	return nil
}

// O38hMaxValid: above this 8-hour O3 mean the 8-hour sub-index is not
// computed (guidance §2.2.2); the 1-hour one is used.
const O38hMaxValid = 400

// interpolate is formula 1: I = (I_{i+1} − I_i)/(BP_{i+1} − BP_i) · (C − BP_i) + I_i.
// A concentration at or beyond the last breakpoint gives that level's index
// (500 for a full column).
func interpolate(bp []float64, c float64) (float64, bool) {
	if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
		return 0, false
	}
	for i := 1; i < len(bp); i++ {
		if c <= bp[i] {
			return (levels[i]-levels[i-1])/(bp[i]-bp[i-1])*(c-bp[i-1]) + levels[i-1], true
		}
	}
	return levels[len(bp)-1], true
}

// SubIndex is the unrounded sub-index of one pollutant at concentration c
// (µg/m³), using the 1-hour O3 column; ok is false for a missing (NaN) or
// negative concentration.
func SubIndex(p Pollutant, c float64) (float64, bool) {
	bp := Breakpoints(p)
	if bp == nil {
		return 0, false
	}
	return interpolate(bp, c)
}

// Round rounds an index half up, as the guidance's worked examples do
// (after 1e-6 rounding, so 109.4999999 from floating point becomes 110 only
// when it really is 109.5).
func Round(x float64) int {
	return int(math.Floor(math.Round(x*1e6)/1e6 + 0.5))
}

// NowcastHours is how many hourly means the NowCast weighs.
const NowcastHours = 12

// Nowcast is the NowCast concentration of PM2.5 or PM10 (guidance
// §2.2.1.a) from hourly means, hourly[0] being the current hour c1 and
// hourly[i] the hour i before it; NaN marks a missing hour. It needs at
// least two of c1, c2, c3. w* = c_min / c_max over the 12 hours; w = w*
// when w* > 1/2, else 1/2; NowCast = Σ w^(i−1)·c_i / Σ w^(i−1) over the
// hours present.
//
// For w = 1/2 the guidance writes Σ (1/2)^i·c_i; with all 12 hours present
// that equals the weighted mean above to within 0.03 % (the weights sum to
// 2·(1 − 2^−12)), and unlike it stays a mean when hours are missing.
func Nowcast(hourly []float64) (float64, bool) {
	if len(hourly) > NowcastHours {
		hourly = hourly[:NowcastHours]
	}
	recent := 0
	for i := 0; i < 3 && i < len(hourly); i++ {
		if valid(hourly[i]) {
			recent++
		}
	}
	if recent < 2 {
		return 0, false
	}
	cmin, cmax := math.Inf(1), math.Inf(-1)
	for _, c := range hourly {
		if valid(c) {
			cmin, cmax = math.Min(cmin, c), math.Max(cmax, c)
		}
	}
	if cmax <= 0 {
		return 0, true
	}
	w := cmin / cmax
	if w <= 0.5 {
		w = 0.5
	}
	var num, den float64
	f := 1.0
	for _, c := range hourly {
		if valid(c) {
			num += f * c
			den += f
		}
		f *= w
	}
	return num / den, true
}

func valid(c float64) bool { return !math.IsNaN(c) && !math.IsInf(c, 0) && c >= 0 }

// Result is an index with its parts.
type Result struct {
	AQI      int               // the index: the largest rounded sub-index
	OK       bool              // false without a PM2.5 or PM10 sub-index (guidance §2.1)
	Dominant Pollutant         // the pollutant that sets the index
	Sub      map[Pollutant]int // rounded sub-indices that could be computed
	// Input holds the concentration each sub-index used (the NowCast for PM).
	Input map[Pollutant]float64
}

// Category is the category of the index.
func (r Result) Category() Category { return CategoryOf(r.AQI) }

// Hourly is the hourly VN_AQI (guidance §2.2.1). hourly maps a pollutant to
// its hourly means, index 0 the current hour, NaN for a missing hour: PM2.5
// and PM10 use the NowCast of up to 12 hours, O3 (1-hour column), NO2, SO2
// and CO the current hour's mean.
func Hourly(hourly map[Pollutant][]float64) Result {
	r := Result{Sub: map[Pollutant]int{}, Input: map[Pollutant]float64{}}
	for _, p := range Pollutants {
		series := hourly[p]
		if len(series) == 0 {
			continue
		}
		var c float64
		var ok bool
		if p == PM25 || p == PM10 {
			c, ok = Nowcast(series)
		} else {
			c, ok = series[0], valid(series[0])
		}
		if !ok {
			continue
		}
		if v, ok := SubIndex(p, c); ok {
			r.Sub[p], r.Input[p] = Round(v), c
		}
	}
	return r.combine()
}

// DailyInput holds the day's figures for the daily index (guidance §2.2.2).
// NaN marks a missing figure.
type DailyInput struct {
	PM25Mean24h, PM10Mean24h    float64
	O3Max1h, O3Max8h            float64
	NO2Max1h, SO2Max1h, COMax1h float64
}

// Missing is a DailyInput with every figure missing, to fill in.
func Missing() DailyInput {
	n := math.NaN()
	return DailyInput{n, n, n, n, n, n, n}
}

// Daily is the daily VN_AQI: PM from 24-hour means, NO2, SO2 and CO from
// their largest hourly mean of the day, O3 the larger of the 1-hour
// sub-index of its largest hourly mean and the 8-hour sub-index of its
// largest 8-hour mean (skipped above 400 µg/m³).
func Daily(in DailyInput) Result {
	r := Result{Sub: map[Pollutant]int{}, Input: map[Pollutant]float64{}}
	set := func(p Pollutant, c float64) {
		if v, ok := SubIndex(p, c); ok {
			r.Sub[p], r.Input[p] = Round(v), c
		}
	}
	set(PM25, in.PM25Mean24h)
	set(PM10, in.PM10Mean24h)
	set(NO2, in.NO2Max1h)
	set(SO2, in.SO2Max1h)
	set(CO, in.COMax1h)
	o3 := -1.0
	if v, ok := interpolate(bpO31h, in.O3Max1h); ok {
		o3, r.Input[O3] = v, in.O3Max1h
	}
	if valid(in.O3Max8h) && in.O3Max8h <= O38hMaxValid {
		if v, ok := interpolate(bpO38h, in.O3Max8h); ok && v > o3 {
			o3, r.Input[O3] = v, in.O3Max8h
		}
	}
	if o3 >= 0 {
		r.Sub[O3] = Round(o3)
	}
	return r.combine()
}

func (r Result) combine() Result {
	_, pm25 := r.Sub[PM25]
	_, pm10 := r.Sub[PM10]
	if !pm25 && !pm10 {
		return r
	}
	r.OK = true
	r.AQI = -1
	for _, p := range Pollutants {
		if v, ok := r.Sub[p]; ok && v > r.AQI {
			r.AQI, r.Dominant = v, p
		}
	}
	return r
}

// Category is one of the six bands of Table 1.
type Category int

const (
	Good          Category = 1 // 0–50 Tốt, green
	Moderate      Category = 2 // 51–100 Trung bình, yellow
	Poor          Category = 3 // 101–150 Kém, orange
	Bad           Category = 4 // 151–200 Xấu, red
	VeryBad       Category = 5 // 201–300 Rất xấu, purple
	Hazardous     Category = 6 // 301–500 Nguy hại, maroon
	firstCategory          = Good
	lastCategory           = Hazardous
)

var categories = [...]struct {
	upper       int
	key, vi, en string
	color       string
}{
	Good:      {50, "good", "Tốt", "Good", "#00e400"},
	Moderate:  {100, "moderate", "Trung bình", "Moderate", "#ffff00"},
	Poor:      {150, "poor", "Kém", "Poor", "#ff7e00"},
	Bad:       {200, "bad", "Xấu", "Bad (unhealthy)", "#ff0000"},
	VeryBad:   {300, "very_bad", "Rất xấu", "Very bad (very unhealthy)", "#8f3f97"},
	Hazardous: {500, "hazardous", "Nguy hại", "Hazardous", "#7e0023"},
}

// CategoryOf is the band of an index; above 500 is still hazardous.
func CategoryOf(aqi int) Category {
	for c := firstCategory; c <= lastCategory; c++ {
		if aqi <= categories[c].upper {
			return c
		}
	}
	return Hazardous
}

// ParseCategory reads a category key (good, moderate, poor, bad,
// very_bad, hazardous); "unhealthy" is accepted for bad and
// "very_unhealthy" for very_bad.
func ParseCategory(s string) (Category, bool) {
	switch s {
	case "unhealthy":
		return Bad, true
	case "very_unhealthy":
		return VeryBad, true
	}
	for c := firstCategory; c <= lastCategory; c++ {
		if categories[c].key == s {
			return c, true
		}
	}
	return 0, false
}

func (c Category) valid() bool { return c >= firstCategory && c <= lastCategory }

// Key is the category's stable name (good … hazardous).
func (c Category) Key() string {
	if !c.valid() {
		return ""
	}
	return categories[c].key
}

// Vietnamese is the category's name in the guidance (Tốt … Nguy hại).
func (c Category) Vietnamese() string {
	if !c.valid() {
		return ""
	}
	return categories[c].vi
}

// English is an English name of the category.
func (c Category) English() string {
	if !c.valid() {
		return ""
	}
	return categories[c].en
}

// Color is the category's colour, RGB of Table 1 as #rrggbb.
func (c Category) Color() string {
	if !c.valid() {
		return ""
	}
	return categories[c].color
}

// Range is the category's index range.
func (c Category) Range() (lo, hi int) {
	if !c.valid() {
		return 0, 0
	}
	if c > firstCategory {
		lo = categories[c-1].upper + 1
	}
	return lo, categories[c].upper
}

// PollutantOf maps a metric name and unit as sensors send them to a
// pollutant and a factor that converts the value to µg/m³; ok is false for
// a metric that is not a VN_AQI pollutant or a unit that cannot be
// converted.
func PollutantOf(metric, unit string) (p Pollutant, factor float64, ok bool) {
	switch metric {
	case "pm25", "pm2_5", "pm2.5":
		p = PM25
	case "pm10":
		p = PM10
	case "o3":
		p = O3
	case "no2":
		p = NO2
	case "so2":
		p = SO2
	case "co":
		p = CO
	default:
		return "", 0, false
	}
	switch unit {
	case "", "ug/m3", "µg/m3", "µg/m³", "ug/m³":
		return p, 1, true
	case "mg/m3", "mg/m³":
		return p, 1000, true
	}
	return "", 0, false
}
