package payload

import (
	"strconv"
	"unicode/utf8"
)

// parseSenMLFast parses the canonical form of a SenML pack in one pass:
// an array of flat objects whose keys are the fields below, each once and
// in lower case, whose strings hold no escape and whose values have the
// field's type. It appends the records to recs and reports true; on
// anything else (escapes, null, bver, ut, bs or unknown keys, duplicate
// or differently cased keys, nesting, NaN, numbers a float64 cannot hold,
// invalid UTF-8, trailing data, any syntax error) it reports false and
// the caller parses with encoding/json (parseSenMLReference), whose
// results and error messages are the reference.
// FuzzSenMLFastVsReference holds the two to the same outcome.
//
// encoding/json plus checkKeys cost about a fifth of ingest's CPU
// (docs/performance.md): reflection, a pointer allocation per field, and
// a second scan for the keys.
func parseSenMLFast(recs []senmlFields, payload []byte) ([]senmlFields, bool) {
	// One copy of the payload: every string field is a slice of it, so a
	// pack's strings cost one allocation, not one each.
	p := senmlScanner{s: string(payload)}
	p.space()
	if !p.byte('[') {
		return recs, false
	}
	p.space()
	if !p.byte(']') {
		for {
			var r senmlFields
			if !p.record(&r) {
				return recs, false
			}
			recs = append(recs, r)
			p.space()
			if p.byte(']') {
				break
			}
			if !p.byte(',') {
				return recs, false
			}
			p.space()
		}
	}
	p.space()
	return recs, p.i == len(p.s)
}

type senmlScanner struct {
	s string
	i int
}

func (p *senmlScanner) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// space skips JSON white space.
func (p *senmlScanner) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// record parses one flat object of known keys into r.
func (p *senmlScanner) record(r *senmlFields) bool {
	if !p.byte('{') {
		return false
	}
	p.space()
	if p.byte('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok {
			return false
		}
		p.space()
		if !p.byte(':') {
			return false
		}
		p.space()
		var bit uint16
		switch key {
		case "bn":
			bit = hasBN
			r.bn, ok = p.str()
		case "bt":
			bit = hasBT
			r.bt, ok = p.float()
		case "bu":
			bit = hasBU
			r.bu, ok = p.str()
		case "bv":
			bit = hasBV
			r.bv, ok = p.float()
		case "n":
			bit = hasN
			r.n, ok = p.str()
		case "u":
			bit = hasU
			r.u, ok = p.str()
		case "v":
			bit = hasV
			r.v, ok = p.float()
		case "vs":
			bit = hasVS
			r.vs, ok = p.str()
		case "vb":
			bit = hasVB
			r.vb, ok = p.boolean()
		case "vd":
			bit = hasVD
			r.vd, ok = p.str()
		case "s":
			bit = hasS
			r.s, ok = p.float()
		case "t":
			bit = hasT
			r.t, ok = p.float()
		default:
			// bver, ut, bs, unknown keys and keys in another case (which
			// encoding/json would match and checkKeys refuses).
			return false
		}
		if !ok || r.has&bit != 0 { // a duplicate is checkKeys' to refuse
			return false
		}
		r.has |= bit
		p.space()
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
		p.space()
	}
}

// str reads a string without escapes or control characters, of valid
// UTF-8: encoding/json gives exactly its bytes.
func (p *senmlScanner) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			s := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(s) {
				return "", false // encoding/json would replace the bad bytes
			}
			return s, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// float reads a JSON number and converts it as encoding/json does
// (strconv.ParseFloat of its text); a number out of float64's range is
// refused, as encoding/json refuses it.
func (p *senmlScanner) float() (float64, bool) {
	start := p.i
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.i < len(p.s) && p.s[p.i] >= '1' && p.s[p.i] <= '9':
		p.digits()
	default:
		return 0, false
	}
	if p.byte('.') && !p.digits() {
		return 0, false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if !p.digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(p.s[start:p.i], 64)
	return f, err == nil
}

func (p *senmlScanner) digits() bool {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

func (p *senmlScanner) boolean() (bool, bool) {
	switch rest := p.s[p.i:]; {
	case len(rest) >= 4 && rest[:4] == "true":
		p.i += 4
		return true, true
	case len(rest) >= 5 && rest[:5] == "false":
		p.i += 5
		return false, true
	}
	return false, false
}
