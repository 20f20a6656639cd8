package event

import "strings"

// The MQTT topic grammar of sensor readings: sensors/{partner}/{device_id},
// after the broker's mount point if any. Ingest parses it
// (ParseSensorTopic), the wall names the partner of a dead letter by it
// (SensorTopicPartner), the simulator and the benchmark build it
// (SensorTopic).

// SensorTopic is the topic a device publishes to, without mount point.
func SensorTopic(partner, device string) string { return "sensors/" + partner + "/" + device }

// ParseSensorTopic splits sensors/{partner}/{device_id} (after the mount
// point, if any). Partner and device ids are 1 to 128 bytes of
// [A-Za-z0-9._:-] and do not start with a symbol (ValidID). The error is a
// ValidationError with reason bad_topic.
func ParseSensorTopic(topic, mount string) (partner, device string, err error) {
	if mount != "" {
		rest, ok := strings.CutPrefix(topic, mount)
		if !ok {
			return "", "", Invalid(ReasonBadTopic, "topic %q is outside the mount point %q", topic, mount)
		}
		topic = rest
	}
	parts := strings.Split(topic, "/")
	if len(parts) != 3 || parts[0] != "sensors" {
		return "", "", Invalid(ReasonBadTopic, "topic %q is not sensors/{partner}/{device_id}", topic)
	}
	for _, id := range parts[1:] {
		if !ValidID(id) {
			return "", "", Invalid(ReasonBadTopic, "topic %q: %q is not 1-128 characters of [A-Za-z0-9._:-] starting with a letter or digit", topic, id)
		}
	}
	return parts[1], parts[2], nil
}

// SensorTopicPartner names the partner of a topic that may not parse (a
// dead letter's: bad device id, extra levels, a mount point the caller
// does not know): the valid id after the first "sensors" level, or false.
func SensorTopicPartner(topic string) (string, bool) {
	parts := strings.Split(topic, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "sensors" {
			return parts[i+1], ValidID(parts[i+1])
		}
	}
	return "", false
}

// ValidID reports whether a partner or device id is 1 to 128 bytes of
// [A-Za-z0-9._:-] not starting with a symbol: no MQTT wildcard (+ #), no
// $SYS-like "$" prefix, no markup, quotes, spaces or control characters,
// so an id is safe in a log line, a SQL literal and the wall's HTML.
func ValidID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '-' || c == '.' || c == '_' || c == ':')
		if !ok {
			return false
		}
	}
	return true
}
