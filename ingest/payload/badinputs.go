package payload

import (
	"strconv"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// BadInput is the catalogue of hostile and broken payloads with the outcome
// each must have: accepted (possibly with a flag: time_from_source=false),
// or dead-lettered with a reason code. The e2e test TestBadInputLandsWhereTheTableSays pushes the same classes through the real pipeline.
type BadInput struct {
	Class   string
	Payload string
	Reason  event.Reason // "" = accepted
	NoTime  bool         // accepted with time_from_source = false (stamped on arrival)
}

// BadInputs builds the catalogue for a receiving clock now.
func BadInputs(now time.Time) []BadInput {
	sec := func(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	huge := "[" + strings.Repeat(`{"n":"x","v":1},`, MaxRecords) + `{"n":"x","v":1}]`
	return []BadInput{
		{"empty payload", "", event.ReasonEmpty, false},
		{"whitespace only", " \r\n\t", event.ReasonEmpty, false},
		{"empty SenML pack", "[]", event.ReasonEmpty, false},
		{"truncated SenML", `[{"n":"pm25","v":4`, event.ReasonNotJSON, false},
		{"truncated plain", `{"values":{"pm25":`, event.ReasonNotJSON, false},
		{"non-UTF-8", "[{\"n\":\"status\",\"vs\":\"\xc3\x28\"}]", event.ReasonInvalidUTF8, false},
		{"binary garbage", "\x00\x01\x02\xff\xfe\x89PNG", event.ReasonInvalidUTF8, false},
		{"text garbage", "hello world", event.ReasonNotJSON, false},
		{"trailing data", `{"values":{"a":1}} {"values":{"a":2}}`, event.ReasonNotJSON, false},
		{"deep nesting in SenML", deep, event.ReasonBadSenML, false},
		{"deep nesting beyond the JSON limit", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), event.ReasonNotJSON, false},
		{"deep nesting in a value", `{"values":{"a":` + deep + `}}`, event.ReasonBadValue, false},
		{"huge array (1001 records)", huge, event.ReasonOversize, false},
		{"oversize payload", `[{"n":"note","vs":"` + strings.Repeat("a", 300<<10) + `"}]`, event.ReasonOversize, false},
		{"oversize string field", `[{"n":"note","vs":"` + strings.Repeat("a", 5000) + `"}]`, event.ReasonTooLong, false},
		{"oversize metric name", `[{"n":"` + strings.Repeat("m", 200) + `","v":1}]`, event.ReasonTooLong, false},
		{"oversize unit", `[{"n":"x","u":"` + strings.Repeat("u", 40) + `","v":1}]`, event.ReasonTooLong, false},
		{"duplicate key", `[{"n":"pm25","v":1,"v":2}]`, event.ReasonBadSenML, false},
		{"case-variant key", `[{"n":"pm25","V":1}]`, event.ReasonBadSenML, false},
		{"case-variant duplicate", `[{"n":"pm25","v":1,"V":2}]`, event.ReasonBadSenML, false},
		{"escaped duplicate key", `[{"n":"pm25","v":1,"\u0076":2}]`, event.ReasonBadSenML, false},
		{"plain duplicate metric", `{"values":{"pm25":1,"pm25":2}}`, event.ReasonBadRecord, false},
		{"plain case-variant field", `{"Values":{"pm25":1}}`, event.ReasonBadRecord, false},
		{"wrong type: value as string", `[{"n":"pm25","v":"42"}]`, event.ReasonBadSenML, false},
		{"wrong type: name as number", `[{"n":25,"v":42}]`, event.ReasonBadSenML, false},
		{"wrong type: pack is an object of arrays", `{"values":[1,2]}`, event.ReasonBadRecord, false},
		{"wrong type: bool as number", `[{"n":"on","vb":1}]`, event.ReasonBadSenML, false},
		{"NaN literal", `[{"n":"pm25","v":NaN}]`, event.ReasonBadValue, false},
		{"Infinity literal", `{"values":{"pm25":Infinity}}`, event.ReasonBadValue, false},
		{"1e309 (overflows float64)", `[{"n":"x","v":1e309}]`, event.ReasonBadValue, false},
		{"1e309 in plain", `{"values":{"x":1e309}}`, event.ReasonBadValue, false},
		{"integer above 2^53", `[{"n":"counter","v":9007199254740993}]`, event.ReasonBadValue, false},
		{"integer at 2^53", `[{"n":"counter","v":9007199254740992}]`, event.ReasonBadValue, false},
		{"integer 2^53 - 1", `[{"n":"counter","v":9007199254740991}]`, "", true},
		{"humidity 250 %", `[{"n":"humidity","u":"%RH","v":250}]`, event.ReasonImplausible, false},
		{"negative rainfall", `{"values":{"rain":-3},"units":{"rain":"mm/h"}}`, event.ReasonImplausible, false},
		{"PM2.5 of 5000", `[{"n":"pm25","v":5000}]`, event.ReasonImplausible, false},
		{"temperature 80 Cel", `[{"n":"temperature","u":"Cel","v":80}]`, event.ReasonImplausible, false},
		{"wrong unit for a known metric", `[{"n":"temperature","u":"degF","v":70}]`, event.ReasonBadUnit, false},
		{"no unit for a known metric", `[{"n":"pm25","v":42}]`, "", true},
		{"unknown unit, unknown metric", `[{"n":"lux","u":"furlong","v":3}]`, "", true},
		{"control character in unit", "[{\"n\":\"lux\",\"u\":\"l\\u001b[31mx\",\"v\":3}]", event.ReasonBadUnit, false},
		{"time 0 (SenML: now)", `[{"n":"x","v":1,"t":0}]`, "", true},
		{"time 0 (plain: 1970)", `{"time":0,"values":{"x":1}}`, event.ReasonBadTime, false},
		{"negative relative time (SenML: 5 s ago)", `[{"n":"x","v":1,"t":-5}]`, "", false},
		{"negative absolute time", `[{"n":"x","v":1,"t":-1700000000}]`, event.ReasonBadTime, false},
		{"negative plain time", `{"time":-1,"values":{"x":1}}`, event.ReasonBadTime, false},
		{"far future (1 h ahead)", `[{"n":"x","v":1,"t":` + sec(now.Add(time.Hour)) + `}]`, event.ReasonBadTime, false},
		{"year 2201", `{"time":"2201-01-01T00:00:00+07:00","values":{"x":1}}`, event.ReasonBadTime, false},
		{"year 2201 in epoch seconds", `[{"n":"x","v":1,"t":7289629200}]`, event.ReasonBadTime, false},
		{"year 2106 (DateTime would wrap)", `{"time":4294967296000,"values":{"x":1}}`, event.ReasonBadTime, false},
		{"time without a zone", `{"time":"2026-11-24T21:00:00","values":{"x":1}}`, event.ReasonBadTime, false},
		{"late (29 days old)", `{"time":` + ms(now.Add(-29*24*time.Hour)) + `,"values":{"x":1}}`, "", false},
		{"too late (31 days old)", `{"time":` + ms(now.Add(-31*24*time.Hour)) + `,"values":{"x":1}}`, event.ReasonBadTime, false},
		{"out of order within a pack", `[{"bt":` + sec(now) + `,"n":"x","v":1},{"n":"x","t":-60,"v":0}]`, "", false},
		{"same reading twice in a pack", `[{"bt":` + sec(now) + `,"n":"x","v":1},{"n":"x","v":2}]`, "", false},
		{"device urn matching the topic", `[{"bn":"urn:dev:mac:dev:","n":"x","v":1}]`, "", true},
		{"device urn contradicting the topic", `[{"bn":"urn:dev:mac:other-device:","n":"x","v":1}]`, event.ReasonDeviceMismatch, false},
		{"device id field in plain form", `{"device_id":"other","values":{"x":1}}`, event.ReasonBadRecord, false},
		{"SQL injection in a string value", `[{"n":"status","vs":"'); DROP TABLE ioc.sensor_readings_raw; --"}]`, "", true},
		{"script tag in a string value", `[{"n":"status","vs":"<script>alert(1)</script>"}]`, "", true},
		{"CR/LF in a string value", `[{"n":"status","vs":"a\r\nFAKE LOG LINE"}]`, "", true},
		{"ANSI escape in a string value", `[{"n":"status","vs":"\u001b[2J\u001b[31mred"}]`, event.ReasonBadValue, false},
		{"SQL injection in a metric name", `[{"n":"x'; DROP TABLE t; --","v":1}]`, event.ReasonMissingName, false},
		{"script tag in a metric name", `{"values":{"<script>":1}}`, event.ReasonMissingName, false},
	}
}
