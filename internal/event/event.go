// Package event holds the records that travel between the pipeline's stages
// over Kafka. It is the only code the stages share: ingest produces these
// records, stream and dashboard consume them.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kafka topics. Records are JSON; the version is part of the topic name so
// that a breaking change gets a new topic and old consumers keep working.
const (
	TopicReadings   = "ioc.sensor.readings.v1"
	TopicDeadLetter = "ioc.deadletter.v1"
)

// Location is the time zone of the city; every calendar computation (days,
// months, the wall's clocks) uses it.
var Location = mustLoad("Asia/Ho_Chi_Minh")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Without tzdata the city offset is fixed (no DST in Vietnam).
		return time.FixedZone(name, 7*3600)
	}
	return loc
}

// Kind tells which of the SenML value fields a reading carries.
type Kind uint8

const (
	KindNumber Kind = 1
	KindString Kind = 2
	KindBool   Kind = 3
)

// Reading is one normalised sensor measurement, keyed in Kafka by DeviceID.
type Reading struct {
	ID         string  `json:"id"`
	Partner    string  `json:"partner"`
	DeviceID   string  `json:"device_id"`
	Metric     string  `json:"metric"`
	Kind       Kind    `json:"kind"`
	Value      float64 `json:"v"`
	String     string  `json:"vs,omitempty"`
	Bool       bool    `json:"vb,omitempty"`
	Unit       string  `json:"u,omitempty"`
	ObservedMs int64   `json:"t"`
	ReceivedMs int64   `json:"rt"`
	// TimeFromSource is false when the payload had no time and ingest used
	// the receive time ("now" in SenML terms).
	TimeFromSource bool   `json:"ts_src"`
	Ward           string `json:"ward,omitempty"`
	Registered     bool   `json:"registered"`
	// Derived marks a value computed by the pipeline (MetricVNAQI), not
	// measured: it is stored and shown like a reading but never counts as
	// its device reporting. Ingest never sets it.
	Derived bool `json:"derived,omitempty"`
}

// ReadingID is the deterministic identity of a reading: the same partner,
// device, metric and observation time always give the same id, so a
// redelivered MQTT message or a replayed Kafka batch is recognisable
// downstream.
func ReadingID(partner, device, metric string, observedMs int64) string {
	// One stack buffer, Sum256 and hex into an array: one allocation (the
	// string) instead of six; ingest, stream and the monitor each compute
	// it for every reading.
	var stack [192]byte
	in := append(stack[:0], partner...)
	in = append(in, 0)
	in = append(in, device...)
	in = append(in, 0)
	in = append(in, metric...)
	in = append(in, 0)
	in = strconv.AppendInt(in, observedMs, 10)
	sum := sha256.Sum256(in)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

// Limits bound what a valid reading may look like.
type Limits struct {
	MaxPast   time.Duration // oldest acceptable observation, relative to receipt
	MaxFuture time.Duration // newest acceptable observation, relative to receipt
}

// maxDateTimeMs is 2100-01-01: ClickHouse DateTime is 32-bit and wraps
// silently past 2106, so later times are rejected before they get there.
const maxDateTimeMs = 4102444800000

// NoWindow accepts any observation time that ClickHouse can store; stream
// uses it, since a replay may legitimately carry old readings.
var NoWindow = Limits{MaxPast: 1 << 62, MaxFuture: 1 << 62}

// DefaultLimits accepts observations up to 30 days old and 5 minutes ahead
// of the receiving clock.
var DefaultLimits = Limits{MaxPast: 30 * 24 * time.Hour, MaxFuture: 5 * time.Minute}

// ValidationError is a reading that must go to the dead-letter topic.
type ValidationError struct {
	Reason Reason
	Detail string
	// Field names the JSON field whose value is personal data
	// (ReasonPersonalData): the dead letter keeps the name and a hash of
	// the value, never the value.
	Field string
}

func (e *ValidationError) Error() string { return string(e.Reason) + ": " + e.Detail }

// Invalid builds a ValidationError.
func Invalid(r Reason, format string, args ...any) *ValidationError {
	return &ValidationError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Validate checks a reading after decoding; it is run again by stream on
// what it reads from Kafka, so a producer that bypasses ingest cannot put a
// broken row into ClickHouse.
func (r *Reading) Validate(l Limits) error {
	switch {
	case r.Partner == "" || r.DeviceID == "":
		return Invalid(ReasonBadTopic, "partner and device id are required")
	case r.Metric == "":
		return Invalid(ReasonMissingName, "reading has no name (SenML n/bn)")
	case !utf8.ValidString(r.Partner) || !utf8.ValidString(r.DeviceID) || !utf8.ValidString(r.Metric) ||
		!utf8.ValidString(r.Unit) || !utf8.ValidString(r.String):
		return Invalid(ReasonInvalidUTF8, "text fields must be UTF-8")
	case len(r.DeviceID) > 128 || len(r.Metric) > 128 || len(r.Unit) > 32 || len(r.String) > 4096:
		return Invalid(ReasonTooLong, "field too long (device/metric 128, unit 32, vs 4096 bytes)")
	}
	switch r.Kind {
	case KindNumber:
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return Invalid(ReasonBadValue, "value is NaN or infinite")
		}
	case KindString, KindBool:
	default:
		return Invalid(ReasonMissingValue, "record has no v, vs or vb")
	}
	if r.ObservedMs <= 0 || r.ObservedMs >= maxDateTimeMs || r.ReceivedMs <= 0 || r.ReceivedMs >= maxDateTimeMs {
		return Invalid(ReasonBadTime, "times must lie between 1970 and 2100 (ClickHouse DateTime would wrap)")
	}
	if r.ObservedMs < r.ReceivedMs-l.MaxPast.Milliseconds() || r.ObservedMs > r.ReceivedMs+l.MaxFuture.Milliseconds() {
		return Invalid(ReasonBadTime, "observation time %s is outside [-%s, +%s] of receipt %s",
			time.UnixMilli(r.ObservedMs).In(Location).Format(time.RFC3339), l.MaxPast, l.MaxFuture,
			time.UnixMilli(r.ReceivedMs).In(Location).Format(time.RFC3339))
	}
	if want := ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs); r.ID != want {
		return Invalid(ReasonBadID, "event id %q does not match its content", r.ID)
	}
	return nil
}

// Reason is a dead-letter reason code. Codes are stable: operators and
// analysts filter on them.
type Reason string

const (
	ReasonNotJSON      Reason = "not_json"
	ReasonBadSenML     Reason = "bad_senml"
	ReasonMissingName  Reason = "missing_name"
	ReasonMissingValue Reason = "missing_value"
	ReasonBadValue     Reason = "bad_value"
	ReasonInvalidUTF8  Reason = "invalid_utf8"
	ReasonBadTime      Reason = "bad_time"
	ReasonOversize     Reason = "oversize"
	ReasonTooLong      Reason = "field_too_long"
	ReasonBadTopic     Reason = "bad_topic"
	ReasonBadID        Reason = "bad_event_id"
	ReasonBadRecord    Reason = "bad_record"
	ReasonEmpty        Reason = "empty"
	// ReasonPartnerMismatch: the topic's partner contradicts the device
	// registry (a vnpt client publishing as a viettel device).
	ReasonPartnerMismatch Reason = "partner_mismatch"
	// ReasonImplausible: a value outside its metric's physical range
	// (humidity 250 %RH, negative rainfall; ingest/payload/plausible.go).
	ReasonImplausible Reason = "implausible_value"
	// ReasonBadUnit: a unit that is not one of its metric's units.
	ReasonBadUnit Reason = "bad_unit"
	// ReasonDeviceMismatch: the payload names a device (a SenML base name
	// urn:dev:...:) other than the topic's.
	ReasonDeviceMismatch Reason = "device_mismatch"
	// ReasonUnregisteredLimit: a partner already has
	// ingest.max_unregistered_devices devices not in the registry.
	ReasonUnregisteredLimit Reason = "unregistered_limit"
	// ReasonKafkaRefused: Kafka refused the message's records for good (a
	// record too large for the broker, a value it does not take); retrying
	// cannot help, so the message is dead-lettered and acknowledged.
	ReasonKafkaRefused Reason = "kafka_refused"
)

// DeadLetter is input that could not be turned into events, with why. Raw
// holds the bytes as received, or only their first DeadLetterRawMax bytes:
// RawLen and RawSHA256 then describe the whole input, and Truncated says
// so. A dead letter therefore has a bounded size (MaxDeadLetterBytes) and
// always fits the Kafka record limit, whatever a publisher sent.
type DeadLetter struct {
	ID          string `json:"id"`
	Source      string `json:"source"`       // mqtt, kafka, http
	SourceTopic string `json:"source_topic"` // MQTT topic or Kafka topic/partition/offset (at most MaxDeadLetterText bytes)
	Reason      Reason `json:"reason"`
	Detail      string `json:"detail"` // at most MaxDeadLetterText bytes
	Raw         []byte `json:"raw"`    // base64 in JSON
	RawLen      int    `json:"raw_len,omitempty"`
	RawSHA256   string `json:"raw_sha256,omitempty"` // hex, of all RawLen bytes
	Truncated   bool   `json:"raw_truncated,omitempty"`
	ReceivedMs  int64  `json:"rt"`
}

// Bounds of a dead letter.
const (
	// DeadLetterRawMax is how much of the input a dead letter keeps.
	DeadLetterRawMax = 64 << 10
	// MaxDeadLetterText bounds SourceTopic and Detail (an MQTT topic may be
	// 64 KiB long).
	MaxDeadLetterText = 1024
	// MaxDeadLetterBytes bounds the JSON of a dead letter: the base64 of
	// the raw prefix, the text fields at worst escaped six bytes a byte
	// (\u00XX), and the fixed fields. TestDeadLetterSizeIsBounded holds it.
	MaxDeadLetterBytes = (DeadLetterRawMax+2)/3*4 + 6*(2*MaxDeadLetterText+64) + 1024
	// MaxReadingBytes bounds the JSON of a reading that passed Validate:
	// ids and names of 128 bytes, a unit of 32, a string value of 4096, at
	// worst escaped, and a ward from the registry (bounded the same way).
	MaxReadingBytes = 6*(3*128+32+4096+256) + 512
)

// TruncatedNote is in the detail of a dead letter whose raw bytes were
// cut to DeadLetterRawMax (the dead_letters table has no other column for
// it): such a dead letter cannot be replayed.
const TruncatedNote = "bytes kept, sha256 "

// DeadLetterID is deterministic over what was received and where, so a
// replay of the dead-letter topic does not double rows.
func DeadLetterID(source, sourceTopic string, raw []byte, receivedMs int64) string {
	h := sha256.New()
	var buf [20]byte
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(sourceTopic))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(buf[:0], receivedMs, 10))
	h.Write([]byte{0})
	h.Write(raw)
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// NewDeadLetter fills the id of a dead letter, keeps at most
// DeadLetterRawMax bytes of raw (with the length and SHA-256 of all of it)
// and bounds the text fields. The id is computed over the whole input.
func NewDeadLetter(source, sourceTopic string, raw []byte, receivedMs int64, err error) DeadLetter {
	dl := DeadLetter{Source: clip(source, 64), SourceTopic: clip(sourceTopic, MaxDeadLetterText), ReceivedMs: receivedMs, Reason: ReasonBadRecord}
	var ve *ValidationError
	if errors.As(err, &ve) {
		dl.Reason, dl.Detail = ve.Reason, ve.Detail
		if ve.Reason == ReasonPersonalData && ve.Field != "" {
			raw = redactField(raw, ve.Field)
			dl.Detail += " (the value is kept only as its SHA-256)"
		}
	} else if err != nil {
		dl.Detail = err.Error()
	}
	dl.Detail = clip(dl.Detail, MaxDeadLetterText)
	dl.ID = DeadLetterID(source, sourceTopic, raw, receivedMs)
	sum := sha256.Sum256(raw)
	dl.RawLen, dl.RawSHA256 = len(raw), hex.EncodeToString(sum[:])
	dl.Raw = raw
	if len(raw) > DeadLetterRawMax {
		// Said in the detail too, so that it reaches the dead_letters table.
		dl.Raw, dl.Truncated = raw[:DeadLetterRawMax], true
		dl.Detail += fmt.Sprintf(" [raw: first %d of %d %s%s]", DeadLetterRawMax, len(raw), TruncatedNote, dl.RawSHA256)
	}
	return dl
}

// redactField replaces the value of every key of the JSON object raw that
// matches field (as encoding/json matches: case-insensitively) by
// "sha256:<hex of the value's JSON>". Input that is not a JSON object is
// replaced as a whole: personal data never stays in a dead letter.
func redactField(raw []byte, field string) []byte {
	hash := func(b []byte) string {
		sum := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		out, _ := json.Marshal(map[string]string{field: hash(raw)})
		return out
	}
	for k, v := range obj {
		if strings.EqualFold(k, field) {
			h, _ := json.Marshal(hash(v))
			obj[k] = h
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		out, _ = json.Marshal(map[string]string{field: hash(raw)})
	}
	return out
}

// clip cuts s to at most n bytes, on a UTF-8 boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// MarshalReading encodes a reading for Kafka (codec.go).
func MarshalReading(r *Reading) ([]byte, error) { return AppendReading(make([]byte, 0, 320), r) }

// UnmarshalReading decodes a reading from Kafka (codec.go).
func UnmarshalReading(b []byte, r *Reading) error {
	if decodeReading(b, r) {
		return nil
	}
	if err := json.Unmarshal(b, r); err != nil {
		return Invalid(ReasonNotJSON, "decoding reading record: %v", err)
	}
	return nil
}

// MarshalDeadLetter encodes a dead letter for Kafka.
func MarshalDeadLetter(d *DeadLetter) ([]byte, error) { return json.Marshal(d) }

// UnmarshalDeadLetter decodes a dead letter from Kafka.
func UnmarshalDeadLetter(b []byte, d *DeadLetter) error {
	if err := json.Unmarshal(b, d); err != nil {
		return Invalid(ReasonNotJSON, "decoding dead-letter record: %v", err)
	}
	return nil
}
