package event

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// A hand-written JSON codec for Reading, the record every reading crosses
// Kafka as: ingest encodes each one, stream and the dashboard decode each
// one, and encoding/json's reflection was among the largest costs of all
// three (docs/performance.md). The encoder writes exactly what json.Marshal
// writes; the decoder takes the canonical form fast and hands anything
// else (escapes, unknown or differently cased keys, nulls, odd numbers,
// invalid UTF-8, errors) to encoding/json, so the results — and the error
// messages — are encoding/json's. Tests hold both to that, field by field.

// codecFields are the JSON names the codec knows, in struct order. If
// Reading gains, loses or renames a field, codecOK turns false and both
// directions go through encoding/json until the codec is updated
// (TestCodecKnowsEveryField fails meanwhile).
var codecFields = []string{"id", "partner", "device_id", "metric", "kind", "v", "vs,omitempty", "vb,omitempty",
	"u,omitempty", "t", "rt", "ts_src", "ward,omitempty", "registered", "derived,omitempty"}

var codecOK = func() bool {
	t := reflect.TypeFor[Reading]()
	if t.NumField() != len(codecFields) {
		return false
	}
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("json") != codecFields[i] {
			return false
		}
	}
	return true
}()

// AppendReading appends the JSON of r, byte for byte what json.Marshal
// gives.
func AppendReading(b []byte, r *Reading) ([]byte, error) {
	if !codecOK || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		j, err := json.Marshal(r) // the same error for NaN and Inf
		return append(b, j...), err
	}
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"partner":`...)
	b = appendString(b, r.Partner)
	b = append(b, `,"device_id":`...)
	b = appendString(b, r.DeviceID)
	b = append(b, `,"metric":`...)
	b = appendString(b, r.Metric)
	b = append(b, `,"kind":`...)
	b = strconv.AppendUint(b, uint64(r.Kind), 10)
	b = append(b, `,"v":`...)
	b = appendFloat(b, r.Value)
	if r.String != "" {
		b = append(b, `,"vs":`...)
		b = appendString(b, r.String)
	}
	if r.Bool {
		b = append(b, `,"vb":true`...)
	}
	if r.Unit != "" {
		b = append(b, `,"u":`...)
		b = appendString(b, r.Unit)
	}
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, r.ObservedMs, 10)
	b = append(b, `,"rt":`...)
	b = strconv.AppendInt(b, r.ReceivedMs, 10)
	b = append(b, `,"ts_src":`...)
	b = strconv.AppendBool(b, r.TimeFromSource)
	if r.Ward != "" {
		b = append(b, `,"ward":`...)
		b = appendString(b, r.Ward)
	}
	b = append(b, `,"registered":`...)
	b = strconv.AppendBool(b, r.Registered)
	if r.Derived {
		b = append(b, `,"derived":true`...)
	}
	return append(b, '}'), nil
}

// appendString quotes s as encoding/json does: text that needs no escape
// (the usual case, Vietnamese included) is copied; anything else is left
// to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return appendQuoted(b, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return appendQuoted(b, s)
		}
		i += size
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendQuoted(b []byte, s string) []byte {
	j, _ := json.Marshal(s) // a string always encodes
	return append(b, j...)
}

// appendFloat formats a finite float64 as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // 1e-07 → 1e-7, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// decodeReading decodes the canonical form of a reading into r and
// reports true; on anything it does not take it leaves r alone and
// reports false, and the caller asks encoding/json.
func decodeReading(data []byte, r *Reading) bool {
	if !codecOK {
		return false
	}
	d := decoder{b: data}
	out := *r // json.Unmarshal keeps the fields the record leaves out
	d.space()
	if !d.byte('{') {
		return false
	}
	d.space()
	if d.peek() == '}' {
		d.i++
	} else {
		for {
			key, ok := d.plainBytes()
			if !ok {
				return false
			}
			d.space()
			if !d.byte(':') {
				return false
			}
			d.space()
			switch string(key) { // compared in place, not allocated
			case "id":
				out.ID, ok = d.plainString()
			case "partner":
				out.Partner, ok = d.plainString()
			case "device_id":
				out.DeviceID, ok = d.plainString()
			case "metric":
				out.Metric, ok = d.plainString()
			case "vs":
				out.String, ok = d.plainString()
			case "u":
				out.Unit, ok = d.plainString()
			case "ward":
				out.Ward, ok = d.plainString()
			case "kind":
				var k int64
				neg := d.peek() == '-' // encoding/json refuses even -0 for an unsigned field
				k, ok = d.integer()
				ok = ok && !neg && k <= math.MaxUint8
				out.Kind = Kind(k)
			case "v":
				out.Value, ok = d.float()
			case "t":
				out.ObservedMs, ok = d.integer()
			case "rt":
				out.ReceivedMs, ok = d.integer()
			case "vb":
				out.Bool, ok = d.boolean()
			case "ts_src":
				out.TimeFromSource, ok = d.boolean()
			case "registered":
				out.Registered, ok = d.boolean()
			case "derived":
				out.Derived, ok = d.boolean()
			default:
				return false // unknown, or a differently cased key encoding/json would match
			}
			if !ok {
				return false
			}
			d.space()
			if d.byte('}') {
				break
			}
			if !d.byte(',') {
				return false
			}
			d.space()
		}
	}
	d.space()
	if d.i != len(d.b) {
		return false
	}
	*r = out
	return true
}

type decoder struct {
	b []byte
	i int
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) byte(c byte) bool {
	if d.peek() == c && d.i < len(d.b) {
		d.i++
		return true
	}
	return false
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// plainString reads a string without escapes, of valid UTF-8.
func (d *decoder) plainString() (string, bool) {
	b, ok := d.plainBytes()
	return string(b), ok
}

func (d *decoder) plainBytes() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start, ascii := d.i, true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false // encoding/json would replace the bad bytes
			}
			return s, true
		case c == 0x5c || c < 0x20: // a backslash (an escape) or a control character
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return nil, false
}

// number returns the bytes of a JSON number, checked against its grammar.
func (d *decoder) number() ([]byte, bool) {
	start := d.i
	d.byte('-')
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case c >= '1' && c <= '9':
		d.digits()
	default:
		return nil, false
	}
	if d.byte('.') {
		if !d.digits() {
			return nil, false
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !d.digits() {
			return nil, false
		}
	}
	return d.b[start:d.i], true
}

func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

func (d *decoder) float() (float64, bool) {
	n, ok := d.number()
	if !ok {
		return 0, false
	}
	if f, ok := exactDecimal(n); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactDecimal converts a plain decimal (no exponent) of at most 15
// digits: the digits and the power of ten are exact float64s, so one
// division rounds correctly and gives what strconv.ParseFloat gives
// (Clinger's fast path). Anything else reports false.
func exactDecimal(n []byte) (float64, bool) {
	neg := len(n) > 0 && n[0] == '-'
	if neg {
		n = n[1:]
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for _, c := range n {
		switch {
		case c == '.':
			dot = true
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			if digits++; digits > 15 {
				return 0, false
			}
			if dot {
				frac++
			}
		default:
			return 0, false // an exponent
		}
	}
	f := float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

// integer reads a JSON integer into an int64 as encoding/json does; a
// fraction or an exponent is refused, as encoding/json refuses it.
func (d *decoder) integer() (int64, bool) {
	n, ok := d.number()
	if !ok {
		return 0, false
	}
	digits := n
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 18 { // may not fit: strconv decides
		v, err := strconv.ParseInt(string(n), 10, 64)
		return v, err == nil
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if n[0] == '-' {
		v = -v
	}
	return v, true
}

func (d *decoder) boolean() (bool, bool) {
	rest := d.b[d.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.i += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.i += 5
		return false, true
	}
	return false, false
}
