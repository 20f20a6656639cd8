package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/ingest/adminhttp"
	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/event"
)

// Config is the ingest role's configuration.
type Config struct {
	MQTT MQTTConfig `yaml:"mqtt"`
	// Partners whose topics are accepted (sensors/{partner}/{device}).
	Partners []string `yaml:"partners"`
	// QueueSize bounds decoded messages waiting for Kafka; when full, the
	// MQTT handler blocks and the broker holds further messages.
	QueueSize int `yaml:"queue_size"`
	// Producers is the number of concurrent Kafka writes.
	Producers int `yaml:"producers"`
	// MaxBatch is the largest number of MQTT messages one Kafka write takes.
	MaxBatch int `yaml:"max_batch"`
	// Linger is how long the Kafka writer waits to fill a batch.
	Linger time.Duration `yaml:"linger"`
	// MaxPayloadBytes: a larger MQTT payload is dead-lettered (oversize,
	// its first 64 KiB kept). The broker's message_size_limit must be at
	// least this (the shipped Mosquitto configurations set 1 MiB, four
	// times the default), so that every valid message reaches ingest and
	// a moderately oversize one leaves a dead letter; the broker drops
	// anything larger.
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
	// MaxRecords: a message with more readings is dead-lettered (oversize).
	MaxRecords int `yaml:"max_records_per_message"`
	// KafkaBatchBytes bounds one record batch of the Kafka writer. It must
	// hold the largest record ingest writes (a dead letter, at most
	// event.MaxDeadLetterBytes) and, with Kafka's per-record overhead, stay
	// within KafkaMaxMessageBytes.
	KafkaBatchBytes int `yaml:"kafka_batch_bytes"`
	// KafkaMaxMessageBytes is the largest record batch the brokers accept:
	// their message.max.bytes, or the topics' max.message.bytes if lower
	// (Kafka's default 1048588). Checked against the topics at start-up.
	KafkaMaxMessageBytes int `yaml:"kafka_max_message_bytes"`
	// MaxUnackedAge: while the oldest MQTT message not yet acknowledged
	// (not yet in Kafka) is older than this, intake is stalled: /readyz
	// answers 503 and ioc_ingest_oldest_unacked_seconds shows the age.
	MaxUnackedAge time.Duration `yaml:"max_unacked_age"`
	MaxPast       time.Duration `yaml:"max_past"`
	MaxFuture     time.Duration `yaml:"max_future"`
	// RegistryFile is the declared device registry (CSV).
	RegistryFile string `yaml:"registry_file"`
	// MaxUnregistered caps the distinct devices outside the registry that
	// one partner may report through one ingest instance (10000); past it,
	// new ones are dead-lettered (unregistered_limit). A flood of random
	// device ids then cannot blow up the tables' and the wall's cardinality.
	MaxUnregistered int `yaml:"max_unregistered_devices"`
	// HTTP is the endpoint where the city's administrative systems post
	// their events (docs/admin-events.md); off unless http.listen is set.
	HTTP adminhttp.Config `yaml:"http"`
}

// MQTTConfig says how ingest reaches the broker.
type MQTTConfig struct {
	URL      string `yaml:"url"` // tcp://host:1883, ssl://host:8883
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile holds the password instead (a mounted Secret), as
	// clickhouse.password_file does; set one of the two.
	PasswordFile string `yaml:"password_file"`
	// Topic filter; the default sensors/+/+ matches sensors/{partner}/{device}.
	Topic string `yaml:"topic"`
	// MountPoint is a topic prefix that ends in "/" (like Mosquitto's
	// mount_point): the default filter becomes {mount_point}sensors/+/+ and
	// the prefix is removed before a topic is parsed. It lets a benchmark or
	// a test run use a shared broker without its messages reaching other
	// pipelines subscribed to sensors/+/+. Empty in production.
	MountPoint string `yaml:"mount_point"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	c.HTTP.Defaults()
	if c.MQTT.URL == "" {
		c.MQTT.URL = "tcp://127.0.0.1:1883"
	}
	if c.MQTT.ClientID == "" {
		c.MQTT.ClientID = "ioc-ingest-1"
	}
	if c.MQTT.Topic == "" {
		c.MQTT.Topic = c.MQTT.MountPoint + "sensors/+/+"
	}
	if len(c.Partners) == 0 {
		c.Partners = []string{"viettel", "vnpt"}
	}
	if c.QueueSize == 0 {
		c.QueueSize = 20000
	}
	if c.Producers == 0 {
		c.Producers = 4
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 2000
	}
	if c.Linger == 0 {
		c.Linger = 2 * time.Millisecond
	}
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = 256 << 10
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = payload.MaxRecords
	}
	if c.KafkaBatchBytes == 0 {
		c.KafkaBatchBytes = defaultKafkaBatchBytes
	}
	if c.KafkaMaxMessageBytes == 0 {
		c.KafkaMaxMessageBytes = DefaultKafkaMaxMessageBytes
	}
	if c.MaxUnackedAge == 0 {
		c.MaxUnackedAge = 30 * time.Second
	}
	if c.MaxPast == 0 {
		c.MaxPast = 30 * 24 * time.Hour
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = 5 * time.Minute
	}
	if c.MaxUnregistered == 0 {
		c.MaxUnregistered = 10000
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	u, err := url.Parse(c.MQTT.URL)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("ingest.mqtt.url: %q must look like tcp://host:1883 or ssl://host:8883", c.MQTT.URL)
	}
	if c.MQTT.ClientID == "" {
		return errors.New("ingest.mqtt.client_id: required, and unique per ingest instance (the broker keeps its session by it)")
	}
	if c.MQTT.Password != "" && c.MQTT.PasswordFile != "" {
		return errors.New("ingest.mqtt: set password (IOC_MQTT_PASSWORD) or password_file, not both")
	}
	if m := c.MQTT.MountPoint; m != "" && (!strings.HasSuffix(m, "/") || strings.ContainsAny(m, "+#") || strings.HasPrefix(m, "/")) {
		return fmt.Errorf("ingest.mqtt.mount_point: %q must look like bench/run1/ (no wildcards, ends with /)", m)
	}
	if len(c.Partners) == 0 {
		return errors.New("ingest.partners: list at least one partner")
	}
	switch {
	case c.QueueSize < 1:
		return fmt.Errorf("ingest.queue_size: %d must be positive", c.QueueSize)
	case c.Producers < 1 || c.Producers > 64:
		return fmt.Errorf("ingest.producers: %d is outside 1..64", c.Producers)
	case c.MaxBatch < 1:
		return fmt.Errorf("ingest.max_batch: %d must be positive", c.MaxBatch)
	case c.MaxPayloadBytes < 64 || c.MaxPayloadBytes > mqttMaxPayload:
		return fmt.Errorf("ingest.max_payload_bytes: %d is outside 64..%d (MQTT's own limit)", c.MaxPayloadBytes, mqttMaxPayload)
	case c.MaxRecords < 1 || c.MaxRecords > 100_000:
		return fmt.Errorf("ingest.max_records_per_message: %d is outside 1..100000", c.MaxRecords)
	case c.MaxUnackedAge < time.Second:
		return fmt.Errorf("ingest.max_unacked_age: %s is below 1s (Kafka's own retries take seconds)", c.MaxUnackedAge)
	case c.MaxUnregistered < 1:
		return fmt.Errorf("ingest.max_unregistered_devices: %d must be positive", c.MaxUnregistered)
	case c.MaxPast <= 0 || c.MaxFuture < 0:
		return errors.New("ingest.max_past must be positive and ingest.max_future not negative")
	}
	if err := c.checkSizes(); err != nil {
		return err
	}
	return c.HTTP.Validate()
}

// Size bounds of the path MQTT → ingest → Kafka.
const (
	// DefaultKafkaMaxMessageBytes is Kafka's default message.max.bytes.
	DefaultKafkaMaxMessageBytes = 1048588
	// defaultKafkaBatchBytes leaves Kafka's default room for the record
	// overhead kafka-go does not count.
	defaultKafkaBatchBytes = 900 << 10
	// mqttMaxPayload is the largest payload MQTT can carry (256 MiB).
	mqttMaxPayload = 268435455
	// maxKafkaKey is the longest key ingest gives a record: a device id, or
	// the clipped MQTT topic of a dead letter.
	maxKafkaKey = event.MaxDeadLetterText
	// batchOverhead is what Kafka adds to a record batch beyond what the
	// writer counts: a batch header and a few varints per record, counted
	// for 256 records (writerBatchSize is lower: a margin).
	batchOverhead = 1024 + 16*256
)

// MaxRecordBytes is the largest record ingest ever writes, as the Kafka
// writer counts it: a dead letter (its raw bytes cut to 64 KiB) or a
// reading, with its key.
func MaxRecordBytes() int {
	return max(event.MaxDeadLetterBytes, event.MaxReadingBytes) + maxKafkaKey + 32
}

// checkSizes: every message the broker delivers must fit the next hop,
// as readings or as its dead letter. A payload over max_payload_bytes
// becomes a dead letter of at most event.MaxDeadLetterBytes whatever its
// size; a valid one becomes at most max_records_per_message readings of
// at most event.MaxReadingBytes each; every record must fit one writer
// batch, and a full batch the broker's message.max.bytes.
func (c *Config) checkSizes() error {
	if need := MaxRecordBytes(); c.KafkaBatchBytes < need {
		return fmt.Errorf("ingest.kafka_batch_bytes: %d cannot hold the largest record ingest writes (a dead letter with its 64 KiB raw prefix: %d bytes); "+
			"set it to at least %d", c.KafkaBatchBytes, need, need)
	}
	if c.KafkaBatchBytes+batchOverhead > c.KafkaMaxMessageBytes {
		return fmt.Errorf("ingest.kafka_batch_bytes: %d plus Kafka's batch overhead (%d) exceeds ingest.kafka_max_message_bytes %d (the brokers' message.max.bytes): "+
			"lower kafka_batch_bytes to at most %d, or raise message.max.bytes on the brokers (and max.message.bytes on the topics) and kafka_max_message_bytes with it",
			c.KafkaBatchBytes, batchOverhead, c.KafkaMaxMessageBytes, c.KafkaMaxMessageBytes-batchOverhead)
	}
	return nil
}
