package event

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestCodecKnowsEveryField(t *testing.T) {
	if !codecOK {
		t.Fatal("Reading's fields changed: update codecFields, AppendReading and decodeReading in codec.go " +
			"(until then both directions fall back to encoding/json)")
	}
	// Every field set: the codec must write what encoding/json writes and
	// read it back whole.
	var r Reading
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64:
			f.SetInt(int64(1764000000000 + i))
		case reflect.Uint8:
			f.SetUint(3)
		case reflect.Float64:
			f.SetFloat(42.5)
		default:
			t.Fatalf("field %s of kind %s: teach this test and codec.go", v.Type().Field(i).Name, f.Kind())
		}
	}
	checkEncode(t, &r)
	var back Reading
	b, _ := AppendReading(nil, &r)
	if !decodeReading(b, &back) || back != r {
		t.Errorf("decoded %+v\nwant    %+v", back, r)
	}
}

func checkEncode(t *testing.T, r *Reading) {
	t.Helper()
	want, werr := json.Marshal(r)
	got, gerr := AppendReading([]byte("prefix"), r)
	if (werr == nil) != (gerr == nil) || werr == nil && string(got) != "prefix"+string(want) {
		t.Errorf("AppendReading(%+v)\n got %s (%v)\nwant prefix%s (%v)", r, got, gerr, want, werr)
	}
}

func TestEncodeLikeEncodingJSON(t *testing.T) {
	for _, r := range []Reading{
		{},
		{ID: "a", Partner: "vnpt", DeviceID: "aq-1", Metric: "pm25", Kind: KindNumber, Value: 42.5, Unit: "ug/m3", ObservedMs: 1, ReceivedMs: 2},
		{Kind: KindString, String: "Báo động 1", Ward: "Phường Chiềng Lề", Registered: true},
		{String: `quote " back \ tab 	 nl` + "\n" + ` <b>&amp;`, Unit: "\x01\x7f", Ward: "line\u2028sep"},
		{String: "bad \xff utf-8", Metric: "\xc3"},
		{Value: 1e-7}, {Value: -1e21}, {Value: 123456789012345678901234.0}, {Value: 0.000001}, {Value: math.Copysign(0, -1)},
		{Value: math.MaxFloat64}, {Value: math.SmallestNonzeroFloat64}, {Value: 1e20}, {Value: 1.5e-300},
		{Value: math.NaN()}, {Value: math.Inf(-1)},
		{Kind: 255, Bool: true, TimeFromSource: true, Derived: true, ObservedMs: -5, ReceivedMs: math.MaxInt64},
	} {
		checkEncode(t, &r)
	}
}

func TestDecodeLikeEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"id":"a","partner":"vnpt","device_id":"aq-1","metric":"pm25","kind":1,"v":42.5,"u":"ug/m3","t":1764000000000,"rt":1764000000001,"ts_src":true,"registered":false}`,
		` { "id" : "a" , "v" : -0.5e-3 , "vb" : true } `,
		`{}`, `{"ward":"Phường Chiềng Lề","vs":"Bình thường"}`,
		`{"ID":"cased"}`, `{"id":"esc\"aped"}`, `{"id":null}`, `{"other":1}`, `{"kind":-0}`, `{"kind":256}`, `{"kind":1.0}`,
		`{"t":1e3}`, `{"t":-0}`, `{"t":01}`, `{"v":1e400}`, `{"v":-}`, `{"v":.5}`, `{"id":"bad \xff"}`, `{"id":"a"} x`,
		`{"id":"a",}`, `{"id":"a"`, `[]`, ``, `{"vb":tru}`, `{"id":"a","id":"b"}`, `{"t":9223372036854775808}`,
	} {
		var fast, ref Reading
		fast.Ward, ref.Ward = "kept", "kept" // fields the record leaves out stay
		ferr := UnmarshalReading([]byte(in), &fast)
		rerr := json.Unmarshal([]byte(in), &ref)
		if (ferr == nil) != (rerr == nil) || rerr == nil && fast != ref {
			t.Errorf("%s:\n got %+v (%v)\nwant %+v (%v)", in, fast, ferr, ref, rerr)
		}
		if rerr != nil && !strings.Contains(ferr.Error(), rerr.Error()) {
			t.Errorf("%s: error %q does not carry encoding/json's %q", in, ferr, rerr)
		}
	}
}

// FuzzReadingCodec holds the codec to encoding/json on any input: the fast
// decoder may decline, but what it accepts encoding/json must accept with
// the same result; and whatever decodes re-encodes as json.Marshal does.
func FuzzReadingCodec(f *testing.F) {
	f.Add([]byte(`{"id":"a","partner":"vnpt","device_id":"aq-1","metric":"pm25","kind":1,"v":42.5,"u":"ug/m3","t":1,"rt":2,"ts_src":true,"registered":false}`))
	f.Add([]byte(`{"ward":"Phường Chiềng Lề","vs":"Bình thường","vb":true,"derived":true}`))
	f.Add([]byte(`{"v":1e-7,"kind":3,"t":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, ref Reading
		ok := decodeReading(b, &fast)
		rerr := json.Unmarshal(b, &ref)
		if ok && (rerr != nil || fast != ref) {
			t.Fatalf("%q: fast decode %+v, encoding/json %+v (%v)", b, fast, ref, rerr)
		}
		if rerr == nil {
			checkEncode(t, &ref)
		}
	})
}
