package ingest

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The size bounds of MQTT → ingest → Kafka must agree: a configuration in
// which a valid or an oversize message cannot fit the next hop is refused,
// saying what to change; the defaults hold.
func TestSizeBoundsAgree(t *testing.T) {
	for name, c := range map[string]struct {
		set  func(*Config)
		want string // "" = valid
	}{
		"defaults":                          {func(*Config) {}, ""},
		"batch too small for a dead letter": {func(c *Config) { c.KafkaBatchBytes = 64 << 10 }, "ingest.kafka_batch_bytes: 65536 cannot hold the largest record"},
		"batch above the broker":            {func(c *Config) { c.KafkaBatchBytes = 1 << 20 }, "exceeds ingest.kafka_max_message_bytes 1048588"},
		"broker below the batch":            {func(c *Config) { c.KafkaMaxMessageBytes = 512 << 10 }, "lower kafka_batch_bytes to at most"},
		"larger broker, larger batch":       {func(c *Config) { c.KafkaMaxMessageBytes, c.KafkaBatchBytes = 8<<20, 4<<20 }, ""},
		"payload above MQTT's":              {func(c *Config) { c.MaxPayloadBytes = 300 << 20 }, "ingest.max_payload_bytes"},
		"records":                           {func(c *Config) { c.MaxRecords = 1_000_000 }, "ingest.max_records_per_message"},
		"unacked age":                       {func(c *Config) { c.MaxUnackedAge = 1 }, "ingest.max_unacked_age"},
	} {
		cfg := Config{}
		c.set(&cfg)
		cfg.Defaults()
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	// What the defaults promise, in numbers.
	cfg := Config{}
	cfg.Defaults()
	if MaxRecordBytes() > cfg.KafkaBatchBytes || cfg.KafkaBatchBytes+batchOverhead > DefaultKafkaMaxMessageBytes {
		t.Errorf("defaults: largest record %d, batch %d (+%d), broker %d", MaxRecordBytes(), cfg.KafkaBatchBytes, batchOverhead, DefaultKafkaMaxMessageBytes)
	}
	if event.MaxDeadLetterBytes >= cfg.KafkaBatchBytes {
		t.Errorf("a dead letter (%d) does not fit a batch (%d)", event.MaxDeadLetterBytes, cfg.KafkaBatchBytes)
	}
}

// Every shipped Mosquitto configuration limits payloads (message_size_limit)
// to at least ingest.max_payload_bytes, so that every valid message reaches
// ingest and oversize ones up to the limit leave a dead letter, and to at
// most 16 MiB, so that no publisher can make the broker hold 256 MiB
// messages.
func TestShippedMosquittoLimitsPayloads(t *testing.T) {
	cfg := Config{}
	cfg.Defaults()
	re := regexp.MustCompile(`(?m)^message_size_limit\s+(?:\$\{MQTT_MESSAGE_SIZE_LIMIT:-)?(\d+)\}?\s*$`)
	for _, f := range []string{"../deploy/mosquitto/mosquitto.conf", "../deploy/docker/mosquitto.conf", "../deploy/local/services.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.HasSuffix(f, "services.sh") {
			start := strings.Index(text, "mosquitto_configure() {")
			end := strings.Index(text[start:], "\n}\n")
			text = text[start : start+end]
		}
		m := re.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s: no message_size_limit", f)
			continue
		}
		limit, _ := strconv.Atoi(m[1])
		if limit < cfg.MaxPayloadBytes || limit > 16<<20 {
			t.Errorf("%s: message_size_limit %d is not within ingest.max_payload_bytes (%d) .. 16 MiB", f, limit, cfg.MaxPayloadBytes)
		}
	}
}
