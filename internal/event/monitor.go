package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Topics of what the stream's monitor derives from the readings: device and
// feed status changes, alert transitions, and the commands operators send
// to alerts (acknowledgements, from the wall or a console).
const (
	TopicDeviceStatus  = "ioc.device.status.v1"
	TopicAlerts        = "ioc.alert.events.v1"
	TopicAlertCommands = "ioc.alert.commands.v1"
)

// MetricVNAQI is the derived reading the monitor publishes per air-quality
// station: the hourly (NowCast) VN_AQI of Decision 1459/QĐ-TCMT. Derived
// readings travel on the readings topic with Derived set; they never count
// as a device reporting.
const MetricVNAQI = "vn_aqi"

// Status of a device or a partner feed.
const (
	StatusOnline  = "online"  // reported within stale_after intervals
	StatusStale   = "stale"   // late: no reading for stale_after intervals
	StatusOffline = "offline" // silent for offline_after intervals
	StatusLive    = "live"    // feed: the partner delivers
	StatusSilent  = "silent"  // feed: nothing from the partner and none of its devices online
)

// Kinds of status subjects.
const (
	SubjectDevice = "device"
	SubjectFeed   = "feed"
)

// DeviceStatus is one change of a device's (or a partner feed's) status,
// derived in the stream from the last reading against the expected
// reporting interval; never from keep-alives. Its id is deterministic, so
// the same change derived twice (a restart, two stream instances) is one
// row in ClickHouse and one entry on the wall.
type DeviceStatus struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"` // SubjectDevice or SubjectFeed
	DeviceID   string `json:"device_id,omitempty"`
	Partner    string `json:"partner"`
	Type       string `json:"type,omitempty"`
	Ward       string `json:"ward,omitempty"`
	Status     string `json:"status"`
	Previous   string `json:"previous,omitempty"`
	Cause      string `json:"cause,omitempty"` // reading, late, silent, feed_silent, start
	AtMs       int64  `json:"at"`              // when the change took effect
	LastSeenMs int64  `json:"last_seen"`       // receive time of the last reading, 0 if never
	IntervalS  int32  `json:"interval_s,omitempty"`
}

// StatusID is the deterministic id of a status change.
func StatusID(kind, partner, device, status string, atMs int64) string {
	return hashID(kind, partner, device, status, strconv.FormatInt(atMs, 10))
}

// Alert states. An alert opens, may escalate (not acknowledged in time, or
// its stage rose), is acknowledged by a named operator, and is resolved
// when its condition clears.
const (
	AlertOpen         = "open"
	AlertEscalated    = "escalated"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// Severities, lowest first.
const (
	SeverityWarning  = "warning"
	SeverityAlert    = "alert"
	SeverityCritical = "critical"
)

// AlertEvent is one transition of an alert, carrying the alert's whole
// state after it: the latest event of an alert id is the alert.
type AlertEvent struct {
	ID        string  `json:"id"` // of this transition (deterministic)
	AlertID   string  `json:"alert_id"`
	Rule      string  `json:"rule"`
	Kind      string  `json:"kind"` // aqi, threshold, device_offline, feed_silent
	Severity  string  `json:"severity"`
	State     string  `json:"state"`
	Seq       int     `json:"seq"`   // transitions so far: the newest event of an alert has the highest
	Level     int     `json:"level"` // escalations so far
	Acked     bool    `json:"acked"` // acknowledged and not escalated since
	Subject   string  `json:"subject"`
	DeviceID  string  `json:"device_id,omitempty"`
	Partner   string  `json:"partner,omitempty"`
	Ward      string  `json:"ward,omitempty"`
	Metric    string  `json:"metric,omitempty"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Stage     string  `json:"stage,omitempty"`
	Message   string  `json:"message"` // Vietnamese, shown on the wall
	OpenedMs  int64   `json:"opened"`
	AtMs      int64   `json:"at"`
	Operator  string  `json:"operator,omitempty"`
	Note      string  `json:"note,omitempty"`
}

// AlertID is the deterministic id of an alert: its rule, its subject and
// the data time at which its condition started to hold.
func AlertID(rule, subject string, openedMs int64) string {
	return hashID("alert", rule, subject, strconv.FormatInt(openedMs, 10))
}

// AlertTransitionID is the id of one transition of an alert.
func AlertTransitionID(alertID, state string, level int, extra string) string {
	return hashID(alertID, state, strconv.Itoa(level), extra)
}

// AlertCommand is an operator's action on an alert, produced by the
// dashboard (POST /api/alerts/{id}/ack) and applied by the stream's monitor,
// which answers with an AlertEvent.
type AlertCommand struct {
	ID       string `json:"id"`
	AlertID  string `json:"alert_id"`
	Action   string `json:"action"` // "ack"
	Operator string `json:"operator"`
	Note     string `json:"note"`
	AtMs     int64  `json:"at"`
	Source   string `json:"source,omitempty"` // wall, console; and the client address
}

// Limits on operator input.
const (
	MaxOperatorLen = 80
	MaxNoteLen     = 500
)

func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// Marshal encodes any of the monitor's records for Kafka.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// StoredTopics are the topics the stream role's consumer group writes to
// ClickHouse: readings, dead letters, device statuses and alert events.
// Whoever shows the stream's lag measures it on these.
func StoredTopics() []string {
	return []string{TopicReadings, TopicDeadLetter, TopicDeviceStatus, TopicAlerts}
}
