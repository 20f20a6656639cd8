// Package payload decodes sensor payloads received over MQTT into readings.
//
// Two forms are accepted, told apart by their first non-space byte:
//
//   - '[' SenML JSON (RFC 8428): records with n, u, v, vs, vb, t and the
//     base fields bn, bt, bu, bv, which carry over to later records. The
//     metric is the resolved name (bn + n). A resolved time below 2^28 is
//     relative to now (RFC 8428 §4.5.3), so a record without time is "now".
//   - '{' plain JSON: {"time": <RFC 3339 string | epoch milliseconds>,
//     "values": {"pm25": 42.5, "status": "Bình thường", "on": true},
//     "units": {"pm25": "ug/m3"}}; time is optional ("now").
//
// A message is all or nothing: if one record is invalid the whole message
// goes to the dead-letter topic, so a publisher never sees half its pack
// stored.
package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sonla-ioc/ioc/internal/event"
)

// MaxRecords bounds the records of one message unless the decoder says
// otherwise (ingest.max_records_per_message).
const MaxRecords = 1000

// Decoder turns one MQTT message into readings.
type Decoder struct {
	MaxBytes   int          // larger payloads are rejected as oversize
	MaxRecords int          // more records are rejected as oversize; 0: MaxRecords
	Limits     event.Limits // sane window for observation times
}

// Decode appends the readings of payload to dst. The returned error is an
// *event.ValidationError saying why the message must be dead-lettered.
func (d Decoder) Decode(dst []event.Reading, partner, device string, payload []byte, now time.Time) ([]event.Reading, error) {
	if d.MaxBytes > 0 && len(payload) > d.MaxBytes {
		return dst, event.Invalid(event.ReasonOversize, "payload is %d bytes, limit %d", len(payload), d.MaxBytes)
	}
	if !utf8.Valid(payload) {
		return dst, event.Invalid(event.ReasonInvalidUTF8, "payload is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(payload, " \t\r\n")
	if len(trimmed) == 0 {
		return dst, event.Invalid(event.ReasonEmpty, "payload is empty")
	}
	start := len(dst)
	var err error
	switch trimmed[0] {
	case '[':
		dst, err = decodeSenML(dst, partner, device, trimmed, now)
	case '{':
		dst, err = decodePlain(dst, partner, device, trimmed, now)
	default:
		return dst, event.Invalid(event.ReasonNotJSON, "payload is neither a SenML array nor a JSON object")
	}
	if err != nil {
		return dst[:start], err
	}
	if len(dst) == start {
		return dst, event.Invalid(event.ReasonEmpty, "payload holds no records")
	}
	maxRecords := d.MaxRecords
	if maxRecords <= 0 {
		maxRecords = MaxRecords
	}
	if len(dst)-start > maxRecords {
		return dst[:start], event.Invalid(event.ReasonOversize, "payload holds %d records, limit %d (ingest.max_records_per_message)", len(dst)-start, maxRecords)
	}
	for i := start; i < len(dst); i++ {
		if err := checkValue(&dst[i]); err != nil {
			return dst[:start], err
		}
		if err := dst[i].Validate(d.Limits); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}

// jsonError classifies a decoding failure: a NaN or Infinity literal is a
// bad value, anything else is not JSON (or not the expected shape).
func jsonError(payload []byte, err error, shape event.Reason) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		if bytes.Contains(payload, []byte("NaN")) || bytes.Contains(payload, []byte("Infinity")) {
			return event.Invalid(event.ReasonBadValue, "NaN and Infinity are not valid values: %v", err)
		}
		return event.Invalid(event.ReasonNotJSON, "%v", err)
	case errors.As(err, &typ) && strings.HasPrefix(typ.Value, "number") && typ.Type.Kind() == reflect.Float64:
		return event.Invalid(event.ReasonBadValue, "field %q: %s does not fit a float64 (e.g. 1e309)", typ.Field, typ.Value)
	case errors.As(err, &typ):
		return event.Invalid(shape, "field %q has the wrong type: %v", typ.Field, err)
	default:
		return event.Invalid(event.ReasonNotJSON, "%v", err)
	}
}

// senmlRecord is one record of a SenML pack. Pointers tell absent from zero.
type senmlRecord struct {
	BaseName  *string  `json:"bn"`
	BaseTime  *float64 `json:"bt"`
	BaseUnit  *string  `json:"bu"`
	BaseValue *float64 `json:"bv"`
	BaseVer   *int     `json:"bver"`
	Name      *string  `json:"n"`
	Unit      *string  `json:"u"`
	Value     *float64 `json:"v"`
	String    *string  `json:"vs"`
	Bool      *bool    `json:"vb"`
	Data      *string  `json:"vd"`
	Sum       *float64 `json:"s"`
	Time      *float64 `json:"t"`
}

// senmlFields is one record as resolveSenML reads it, from either parser:
// has tells which fields the record holds.
type senmlFields struct {
	has                  uint16
	bn, bu, n, u, vs, vd string
	bt, bv, v, s, t      float64
	bver                 int
	vb                   bool
}

const (
	hasBN uint16 = 1 << iota
	hasBT
	hasBU
	hasBV
	hasBVer
	hasN
	hasU
	hasV
	hasVS
	hasVB
	hasVD
	hasS
	hasT
)

func (r *senmlRecord) fields() senmlFields {
	var f senmlFields
	str := func(p *string, bit uint16, dst *string) {
		if p != nil {
			f.has |= bit
			*dst = *p
		}
	}
	num := func(p *float64, bit uint16, dst *float64) {
		if p != nil {
			f.has |= bit
			*dst = *p
		}
	}
	str(r.BaseName, hasBN, &f.bn)
	num(r.BaseTime, hasBT, &f.bt)
	str(r.BaseUnit, hasBU, &f.bu)
	num(r.BaseValue, hasBV, &f.bv)
	if r.BaseVer != nil {
		f.has |= hasBVer
		f.bver = *r.BaseVer
	}
	str(r.Name, hasN, &f.n)
	str(r.Unit, hasU, &f.u)
	num(r.Value, hasV, &f.v)
	str(r.String, hasVS, &f.vs)
	if r.Bool != nil {
		f.has |= hasVB
		f.vb = *r.Bool
	}
	str(r.Data, hasVD, &f.vd)
	num(r.Sum, hasS, &f.s)
	num(r.Time, hasT, &f.t)
	return f
}

// senmlKeys are the fields of a SenML record this decoder reads; the same
// key in another case is refused (checkKeys).
var senmlKeys = []string{"bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut", "bs"}

// deviceURN handles a base name that names the device (RFC 8428 §5:
// "urn:dev:ow:10e2073a01080063:"): the topic is authoritative, so such a
// base name must name the topic's device; it is then dropped from the
// metric name. A base name naming another device is a device_mismatch.
func deviceURN(bn, device string) (string, error) {
	if !strings.HasPrefix(bn, "urn:dev:") {
		return bn, nil
	}
	rest := strings.TrimSuffix(bn[len("urn:dev:"):], ":")
	id := rest[strings.LastIndexByte(rest, ':')+1:]
	if id != device {
		return "", event.Invalid(event.ReasonDeviceMismatch, "base name %q names device %q, but the topic says %q (the topic is authoritative)", bn, id, device)
	}
	return "", nil
}

// relativeLimit is 2^28 seconds: smaller resolved times are relative to now.
const relativeLimit = 1 << 28

// decodeSenML decodes a SenML pack: the canonical form in one pass
// (parseSenMLFast), anything else through encoding/json and checkKeys
// (parseSenMLReference), which keeps the say on every error.
func decodeSenML(dst []event.Reading, partner, device string, payload []byte, now time.Time) ([]event.Reading, error) {
	var buf [8]senmlFields // a typical pack parses without a heap slice
	recs, ok := parseSenMLFast(buf[:0], payload)
	if !ok {
		var err error
		if recs, err = parseSenMLReference(payload); err != nil {
			return dst, err
		}
	}
	return resolveSenML(dst, partner, device, recs, now)
}

// decodeSenMLReference is decodeSenML without the fast path: what the
// differential fuzz target holds the fast path to.
func decodeSenMLReference(dst []event.Reading, partner, device string, payload []byte, now time.Time) ([]event.Reading, error) {
	recs, err := parseSenMLReference(payload)
	if err != nil {
		return dst, err
	}
	return resolveSenML(dst, partner, device, recs, now)
}

// parseSenMLReference parses a pack with encoding/json, then refuses
// duplicate and wrongly cased keys (checkKeys), which encoding/json lets
// through.
func parseSenMLReference(payload []byte) ([]senmlFields, error) {
	var recs []senmlRecord
	if err := json.Unmarshal(payload, &recs); err != nil {
		return nil, jsonError(payload, err, event.ReasonBadSenML)
	}
	if err := checkKeys(payload, senmlKeys, 2); err != nil {
		return nil, event.Invalid(event.ReasonBadSenML, "%v", err)
	}
	out := make([]senmlFields, len(recs))
	for i := range recs {
		out[i] = recs[i].fields()
	}
	return out, nil
}

// resolveSenML applies the base fields and turns records into readings.
func resolveSenML(dst []event.Reading, partner, device string, recs []senmlFields, now time.Time) ([]event.Reading, error) {
	dst = slices.Grow(dst, min(len(recs), MaxRecords+1))
	nowMs := now.UnixMilli()
	var bn, bu string
	var bt, bv float64
	for i := range recs {
		rec := &recs[i]
		if rec.has&hasBN != 0 {
			bn = rec.bn
		}
		if rec.has&hasBT != 0 {
			bt = rec.bt
		}
		if rec.has&hasBU != 0 {
			bu = rec.bu
		}
		if rec.has&hasBV != 0 {
			bv = rec.bv
		}
		if rec.has&hasBVer != 0 && rec.bver > 10 {
			return dst, event.Invalid(event.ReasonBadSenML, "record %d: unsupported SenML version %d", i, rec.bver)
		}
		if rec.has&hasBN != 0 {
			var err error
			if bn, err = deviceURN(bn, device); err != nil {
				return dst, err
			}
		}
		name := bn
		if rec.has&hasN != 0 {
			name += rec.n
		}
		if rec.has&(hasN|hasV|hasVS|hasVB|hasVD|hasS) == 0 {
			// A record with only base fields sets context for the next ones.
			continue
		}
		if err := checkName(name); err != nil {
			return dst, event.Invalid(event.ReasonMissingName, "record %d: %v", i, err)
		}
		r := event.Reading{Partner: partner, DeviceID: device, Metric: name, ReceivedMs: nowMs}
		if rec.has&hasU != 0 {
			r.Unit = rec.u
		} else {
			r.Unit = bu
		}
		switch {
		case rec.has&hasV != 0:
			r.Kind, r.Value = event.KindNumber, bv+rec.v
		case rec.has&hasVS != 0:
			r.Kind, r.String = event.KindString, rec.vs
		case rec.has&hasVB != 0:
			r.Kind, r.Bool = event.KindBool, rec.vb
		case rec.has&hasS != 0:
			r.Kind, r.Value = event.KindNumber, rec.s
		case rec.has&hasVD != 0:
			return dst, event.Invalid(event.ReasonBadValue, "record %d: data values (vd) are not supported", i)
		default:
			return dst, event.Invalid(event.ReasonMissingValue, "record %d (%s) has no v, vs, vb or s", i, name)
		}
		t := bt
		if rec.has&hasT != 0 {
			t += rec.t
		}
		ms, fromSource, err := resolveTime(t, nowMs)
		if err != nil {
			return dst, event.Invalid(event.ReasonBadTime, "record %d: %v", i, err)
		}
		r.ObservedMs, r.TimeFromSource = ms, fromSource
		r.ID = event.ReadingID(partner, device, name, ms)
		dst = append(dst, r)
	}
	return dst, nil
}

// resolveTime turns a SenML time in seconds into epoch milliseconds.
func resolveTime(t float64, nowMs int64) (ms int64, fromSource bool, err error) {
	if math.IsNaN(t) || math.IsInf(t, 0) || math.Abs(t) > 1e11 {
		return 0, false, fmt.Errorf("time %v is not a valid epoch in seconds", t)
	}
	if math.Abs(t) < relativeLimit {
		// Relative to now; 0 (or absent) is "now".
		return nowMs + int64(math.Round(t*1000)), t != 0, nil
	}
	return int64(math.Round(t * 1000)), true, nil
}

// checkName applies the SenML name rule (RFC 8428 §4.5.1).
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("name is empty (set n or bn)")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '-' || c == ':' || c == '.' || c == '/' || c == '_')
		if !ok {
			return fmt.Errorf("name %q has a character outside [A-Za-z0-9-:./_] (or starts with a symbol)", name)
		}
	}
	return nil
}

type plainMessage struct {
	Time   json.RawMessage            `json:"time"`
	Values map[string]json.RawMessage `json:"values"`
	Units  map[string]string          `json:"units"`
}

// plainKeys are the fields of the plain form.
var plainKeys = []string{"time", "values", "units"}

func decodePlain(dst []event.Reading, partner, device string, payload []byte, now time.Time) ([]event.Reading, error) {
	var m plainMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		if strings.Contains(err.Error(), "unknown field") {
			return dst, event.Invalid(event.ReasonBadRecord, "%v (allowed: time, values, units)", err)
		}
		return dst, jsonError(payload, err, event.ReasonBadRecord)
	}
	if dec.More() {
		return dst, event.Invalid(event.ReasonNotJSON, "trailing data after the JSON object")
	}
	if err := checkKeys(payload, plainKeys, 1); err != nil {
		return dst, event.Invalid(event.ReasonBadRecord, "%v", err)
	}
	nowMs := now.UnixMilli()
	ms, fromSource := nowMs, false
	if len(m.Time) > 0 && string(m.Time) != "null" {
		var err error
		ms, err = plainTime(m.Time)
		if err != nil {
			return dst, event.Invalid(event.ReasonBadTime, "%v", err)
		}
		fromSource = true
	}
	if len(m.Values) == 0 {
		return dst, event.Invalid(event.ReasonMissingValue, "\"values\" is missing or empty")
	}
	for name, raw := range m.Values {
		if err := checkName(name); err != nil {
			return dst, event.Invalid(event.ReasonMissingName, "%v", err)
		}
		r := event.Reading{Partner: partner, DeviceID: device, Metric: name, Unit: m.Units[name],
			ObservedMs: ms, ReceivedMs: nowMs, TimeFromSource: fromSource}
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0 || string(raw) == "null":
			return dst, event.Invalid(event.ReasonMissingValue, "value of %q is null", name)
		case raw[0] == '"':
			r.Kind = event.KindString
			if err := json.Unmarshal(raw, &r.String); err != nil {
				return dst, event.Invalid(event.ReasonBadValue, "value of %q: %v", name, err)
			}
		case string(raw) == "true" || string(raw) == "false":
			r.Kind, r.Bool = event.KindBool, string(raw) == "true"
		default:
			r.Kind = event.KindNumber
			if err := json.Unmarshal(raw, &r.Value); err != nil {
				return dst, event.Invalid(event.ReasonBadValue, "value of %q is not a number, string or boolean", name)
			}
		}
		r.ID = event.ReadingID(partner, device, name, ms)
		dst = append(dst, r)
	}
	return dst, nil
}

func plainTime(raw json.RawMessage) (int64, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("time: %w", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("time %q is not RFC 3339 (e.g. 2026-11-24T21:00:00+07:00)", s)
		}
		return t.UnixMilli(), nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 0 || f > 1e14 {
		return 0, fmt.Errorf("time %s is neither RFC 3339 nor epoch milliseconds", raw)
	}
	return int64(f), nil
}
