package payload

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fast path must take what publishers send, or it buys nothing; and
// it must hand everything unusual to encoding/json.
func TestSenMLFastPathTakesTheCanonicalForm(t *testing.T) {
	for _, s := range []string{
		string(loadPack(now, 5)),
		string(loadPack(now, 25)),
		`[]`,
		` [ {} , { "n" : "a" , "v" : -0.5e-3 } ] `,
		`[{"bn":"urn:dev:mac:dev:","bt":1.7643e9,"bu":"ug/m3","bv":1,"n":"pm25","v":1,"t":-1E+2},{"n":"pm10","t":1,"s":2}]`,
		`[{"n":"status","vs":"Báo động 1"},{"n":"on","vb":true},{"n":"off","vb":false},{"n":"d","vd":"AAE="}]`,
		`[{"n":"x","v":1e308}]`,
	} {
		if _, ok := parseSenMLFast(nil, []byte(s)); !ok {
			t.Errorf("fast path refused the canonical %s", s)
		}
	}
	for _, s := range []string{
		`[{"n":"a","v":1}`, `[{"n":"a","v":1}] x`, `[{"n":"a","v":1},]`, `[{"n":"a","v":1,}]`, `[{"n":"a" "v":1}]`,
		`[{"n":"a","v":1,"v":2}]`, `[{"n":"a","V":1}]`, `[{"N":"a","v":1}]`, `[{"n":"a","\u0076":1}]`,
		`[{"n":"a\u0062","v":1}]`, `[{"n":"a\"b","v":1}]`, "[{\"n\":\"a\tb\",\"v\":1}]", "[{\"n\":\"a\xffb\",\"v\":1}]",
		`[{"n":"a","v":null}]`, `[null]`, `[{"n":"a","v":[1]}]`, `[{"n":"a","v":{}}]`, `[[]]`, `[1]`, `{"n":"a"}`,
		`[{"n":"a","v":NaN}]`, `[{"n":"a","v":1e309}]`, `[{"n":"a","v":01}]`, `[{"n":"a","v":1.}]`, `[{"n":"a","v":.5}]`,
		`[{"n":"a","v":+1}]`, `[{"n":"a","v":1e}]`, `[{"n":"a","v":-}]`, `[{"n":"a","v":"1"}]`, `[{"n":1,"v":1}]`,
		`[{"n":"a","vb":1}]`, `[{"n":"a","vb":tru}]`, `[{"n":"a","vb":truee}]`, `[{"bver":10,"n":"a","v":1}]`,
		`[{"ut":1,"n":"a","v":1}]`, `[{"x":1,"n":"a","v":1}]`,
	} {
		if _, ok := parseSenMLFast(nil, []byte(s)); ok {
			t.Errorf("fast path took %s, which is encoding/json's to judge", s)
		}
	}
}

// FuzzSenMLFastVsReference: for any input, decoding with the fast path
// gives what encoding/json and checkKeys give: the same records when the
// fast path takes the input, and the same readings, or the same error
// (reason and detail), from the whole SenML decoder.
func FuzzSenMLFastVsReference(f *testing.F) {
	for _, c := range BadInputs(now) {
		if len(c.Payload) < 64<<10 {
			f.Add([]byte(c.Payload))
		}
	}
	for _, n := range []int{1, 5, 12} {
		f.Add(loadPack(now, n))
	}
	for _, s := range []string{
		`[{"bn":"air.","bt":1764082740.5,"bu":"ug/m3","bv":10,"n":"pm25","v":2.5},{"n":"pm10","t":1,"v":5},{"n":"temp","u":"Cel","v":20}]`,
		`[{"bn":"x/"},{"n":"a","v":1}]`, `[{"n":"status","vs":"Báo động 1"},{"n":"on","vb":true}]`,
		`[{"n":"a","vd":"AAE="},{"n":"b","s":-0}]`, `[{"bver":11,"n":"a","v":1}]`, `[ {} ]`,
	} {
		f.Add([]byte(s))
	}
	for _, b := range fuzzCorpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf [8]senmlFields
		fast, ok := parseSenMLFast(buf[:0], b)
		ref, refErr := parseSenMLReference(b)
		if ok {
			if refErr != nil {
				t.Fatalf("fast path took %q, which encoding/json refuses: %v", b, refErr)
			}
			if len(fast) != len(ref) {
				t.Fatalf("fast path: %d records, reference %d", len(fast), len(ref))
			}
			for i := range fast {
				if !sameFields(&fast[i], &ref[i]) {
					t.Fatalf("record %d: fast path %+v, reference %+v", i, fast[i], ref[i])
				}
			}
		}
		got, gotErr := decodeSenML(nil, "vnpt", "dev", b, now)
		want, wantErr := decodeSenMLReference(nil, "vnpt", "dev", b, now)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("error: fast path %v, reference %v", gotErr, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("fast path: %d readings, reference %d", len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if math.Float64bits(g.Value) != math.Float64bits(w.Value) {
				t.Fatalf("reading %d: value %v, reference %v", i, g.Value, w.Value)
			}
			g.Value, w.Value = 0, 0
			if g != w {
				t.Fatalf("reading %d: fast path %+v, reference %+v", i, g, w)
			}
		}
	})
}

// sameFields compares two records bit for bit (-0 is not 0: it encodes as
// -0 on Kafka).
func sameFields(a, b *senmlFields) bool {
	eq := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return a.has == b.has && a.bn == b.bn && a.bu == b.bu && a.n == b.n && a.u == b.u && a.vs == b.vs && a.vd == b.vd &&
		eq(a.bt, b.bt) && eq(a.bv, b.bv) && eq(a.v, b.v) && eq(a.s, b.s) && eq(a.t, b.t) && a.bver == b.bver && a.vb == b.vb
}

// fuzzCorpus reads the inputs of every fuzz target's corpus in testdata,
// so each decoder target's findings seed the differential one.
func fuzzCorpus(f *testing.F) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	var out [][]byte
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "[]byte(") || !strings.HasSuffix(line, ")") {
				continue
			}
			s, err := strconv.Unquote(line[len("[]byte(") : len(line)-1])
			if err != nil {
				f.Fatalf("%s: %v", name, err)
			}
			out = append(out, []byte(s))
		}
	}
	return out
}
