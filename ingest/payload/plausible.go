package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/sonla-ioc/ioc/internal/event"
)

// plausible is what a metric the city measures may physically look like:
// the units it may be reported in and the range its value must lie in.
// A value outside the range (humidity 250 %RH, negative rainfall) or a
// unit not listed is dead-lettered (implausible_value, bad_unit) rather
// than stored with a flag: the tables have no column an analyst would
// remember to filter on, and one such value skews every average, the
// VN_AQI and its alerts. The raw payload stays in dead_letters, so if a
// range here was wrong, fix it and replay (ioc deadletter replay).
//
// A missing unit is accepted (publishers often omit it). Metrics not listed
// are stored unchecked: the table bounds only what the city relies on.
type plausible struct {
	units    []string
	min, max float64
}

var plausibility = map[string]plausible{
	"pm25":        {[]string{"ug/m3"}, 0, 1000},
	"pm10":        {[]string{"ug/m3"}, 0, 2000},
	"co":          {[]string{"ug/m3"}, 0, 200000},
	"no2":         {[]string{"ug/m3"}, 0, 5000},
	"so2":         {[]string{"ug/m3"}, 0, 5000},
	"o3":          {[]string{"ug/m3"}, 0, 2000},
	"temperature": {[]string{"Cel"}, -20, 55}, // Son La: record low about -2 °C, high about 42 °C
	"humidity":    {[]string{"%RH"}, 0, 100},
	"rain":        {[]string{"mm/h"}, 0, 500},
	"level":       {[]string{"m"}, -5, 50},
	"speed":       {[]string{"km/h"}, 0, 300},
	"vehicles":    {[]string{"1/min"}, 0, 10000},
	"power":       {[]string{"W"}, 0, 1e6},
}

// maxExactInt is 2^53: a float64 (the ClickHouse value column) holds every
// integer below it; from it on, 2^53+1 reads as 2^53, rounded silently.
const maxExactInt = 1 << 53

// checkValue applies the rules of one decoded reading that do not depend
// on its time: exact float range, the plausibility table, text hygiene.
func checkValue(r *event.Reading) error {
	if p, ok := plausibility[r.Metric]; ok && r.Unit != "" {
		found := false
		for _, u := range p.units {
			found = found || u == r.Unit
		}
		if !found {
			return event.Invalid(event.ReasonBadUnit, "%s: unit %q, want one of %v", r.Metric, r.Unit, p.units)
		}
	}
	switch r.Kind {
	case event.KindNumber:
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return event.Invalid(event.ReasonBadValue, "%s: value is NaN or infinite", r.Metric)
		}
		if math.Abs(r.Value) >= maxExactInt {
			return event.Invalid(event.ReasonBadValue, "%s: value %g is at or beyond ±2^53, where a float64 no longer tells neighbouring integers apart", r.Metric, r.Value)
		}
		if p, ok := plausibility[r.Metric]; ok {
			if r.Value < p.min || r.Value > p.max {
				return event.Invalid(event.ReasonImplausible, "%s = %g is outside its plausible range [%g, %g]", r.Metric, r.Value, p.min, p.max)
			}
		}
	case event.KindString:
		if i := strings.IndexFunc(r.String, isControl); i >= 0 {
			return event.Invalid(event.ReasonBadValue, "%s: string value holds control character %U at byte %d (only tab, CR and LF are allowed)", r.Metric, []rune(r.String[i:])[0], i)
		}
	}
	if strings.IndexFunc(r.Unit, isControl) >= 0 || strings.ContainsAny(r.Unit, "\t\r\n") {
		return event.Invalid(event.ReasonBadUnit, "%s: unit %q holds control characters", r.Metric, r.Unit)
	}
	return nil
}

// isControl: C0 controls but tab, CR and LF (so ESC, the start of an ANSI
// escape, is refused), DEL and the C1 controls.
func isControl(c rune) bool {
	return c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f || c >= 0x80 && c < 0xa0
}

// checkKeys refuses objects whose keys repeat, exactly or in another case
// ({"v":1,"v":2}, {"n":"a","N":"b"}), and keys that are a known field in
// the wrong case ({"V":1}) in the objects at knownDepth (1: the top level). encoding/json would silently keep the last
// duplicate and match keys case-insensitively, so two systems could read
// one payload differently. payload must be valid JSON.
func checkKeys(payload []byte, known []string, knownDepth int) error {
	type frame struct {
		object bool
		keys   [][]byte
	}
	var stack []frame
	expectKey := false
	for i := 0; i < len(payload); i++ {
		switch payload[i] {
		case '{':
			stack = append(stack, frame{object: true})
			expectKey = true
		case '[':
			stack = append(stack, frame{})
			expectKey = false
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			end := stringEnd(payload, i)
			if end >= len(payload) {
				return nil // unterminated: not JSON, which the decoder reported
			}
			if expectKey && len(stack) > 0 {
				key := payload[i+1 : end]
				if bytes.IndexByte(key, '\\') >= 0 {
					var s string
					if err := json.Unmarshal(payload[i:end+1], &s); err == nil {
						key = []byte(s)
					}
				}
				top := &stack[len(stack)-1]
				for _, k := range top.keys {
					if bytes.EqualFold(k, key) {
						return fmt.Errorf("key %q appears twice in one object (keys are case-sensitive; send each once)", key)
					}
				}
				top.keys = append(top.keys, key)
				for _, k := range known {
					if len(stack) != knownDepth {
						break
					}
					if string(key) != k && strings.EqualFold(string(key), k) {
						return fmt.Errorf("key %q is %q in the wrong case (keys are case-sensitive)", key, k)
					}
				}
				expectKey = false
			}
			i = end
		}
	}
	return nil
}

// stringEnd returns the index of the closing quote of the string at i.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(b)
}
