package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// Config is the whole file: one section per component. Unknown keys are an
// error, so a typo never silently falls back to a default.
type Config struct {
	Log        LogConfig        `yaml:"log"`
	Kafka      kafkaconn.Config `yaml:"kafka"`
	ClickHouse chconn.Config    `yaml:"clickhouse"`
	Ingest     ingest.Config    `yaml:"ingest"`
	Stream     stream.Config    `yaml:"stream"`
	Dashboard  dashboard.Config `yaml:"dashboard"`
	Simulate   simulate.Config  `yaml:"simulate"`
	// Feeds is the consumer of the administrative feeds and the KPI engine
	// (in the stream role; docs/kpis.md).
	Feeds feeds.Config `yaml:"feeds"`
	// Ops is where /metrics, /healthz and /readyz are served; empty picks
	// the role's default port.
	Ops OpsConfig `yaml:"ops"`
	// Retention is how long `ioc retention` keeps raw rows in ClickHouse.
	Retention schema.RetentionConfig `yaml:"retention"`
}

// LogConfig selects log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// OpsConfig is the operations endpoint.
type OpsConfig struct {
	Listen string `yaml:"listen"`
}

// envOverrides lets containers and scripts point the roles at services
// without editing the file.
var envOverrides = []struct {
	name  string
	apply func(c *Config, v string)
}{
	{"IOC_MQTT_URL", func(c *Config, v string) { c.Ingest.MQTT.URL, c.Simulate.MQTTURL = v, v }},
	{"IOC_MQTT_USERNAME", func(c *Config, v string) { c.Ingest.MQTT.Username = v }},
	{"IOC_MQTT_PASSWORD", func(c *Config, v string) { c.Ingest.MQTT.Password = v }},
	// Unique per ingest instance (a StatefulSet sets its pod name): the
	// broker keeps each persistent session by client id.
	{"IOC_MQTT_CLIENT_ID", func(c *Config, v string) { c.Ingest.MQTT.ClientID = v }},
	{"IOC_KAFKA_BROKERS", func(c *Config, v string) { c.Kafka.Brokers = strings.Split(v, ",") }},
	{"IOC_KAFKA_TOPIC_PREFIX", func(c *Config, v string) { c.Kafka.TopicPrefix = v }},
	{"IOC_CLICKHOUSE_ADDR", func(c *Config, v string) { c.ClickHouse.Addr = strings.Split(v, ",") }},
	{"IOC_CLICKHOUSE_DATABASE", func(c *Config, v string) { c.ClickHouse.Database = v }},
	{"IOC_CLICKHOUSE_USER", func(c *Config, v string) { c.ClickHouse.Username = v }},
	{"IOC_CLICKHOUSE_PASSWORD", func(c *Config, v string) { c.ClickHouse.Password = v }},
	{"IOC_DASHBOARD_LISTEN", func(c *Config, v string) { c.Dashboard.Listen = v }},
	{"IOC_OPS_LISTEN", func(c *Config, v string) { c.Ops.Listen = v }},
	{"IOC_LOG_LEVEL", func(c *Config, v string) { c.Log.Level = v }},
	{"IOC_INGEST_HTTP_LISTEN", func(c *Config, v string) { c.Ingest.HTTP.Listen = v }},
	{"IOC_INGEST_HTTP_TOKENS", func(c *Config, v string) { c.Ingest.HTTP.Tokens = v }},
	{"IOC_KAFKA_SASL_USERNAME", func(c *Config, v string) { c.Kafka.SASL.Username = v }},
	{"IOC_KAFKA_SASL_PASSWORD", func(c *Config, v string) { c.Kafka.SASL.Password = v }},
}

// loadConfig reads the file (if any), applies environment overrides and
// defaults, and validates every section.
func loadConfig(path string) (*Config, error) {
	cfg := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	for _, o := range envOverrides {
		if v, ok := os.LookupEnv(o.name); ok && v != "" {
			o.apply(cfg, v)
		}
	}
	cfg.Kafka.Defaults()
	cfg.ClickHouse.Defaults()
	cfg.Ingest.Defaults()
	cfg.Stream.Defaults()
	cfg.Dashboard.Defaults()
	cfg.Simulate.Defaults()
	cfg.Feeds.Defaults()
	cfg.Retention.Defaults()
	if cfg.Simulate.RegistryFile == "" {
		cfg.Simulate.RegistryFile = cfg.Ingest.RegistryFile
	}
	if cfg.Stream.RegistryFile == "" {
		cfg.Stream.RegistryFile = cfg.Ingest.RegistryFile
	}
	if cfg.Dashboard.Wall.RegistryFile == "" {
		// The wall knows the registry before it serves, even on the first
		// start when stream has not yet loaded it into ClickHouse.
		cfg.Dashboard.Wall.RegistryFile = cfg.Ingest.RegistryFile
	}
	if cfg.Simulate.MQTTURL == "tcp://127.0.0.1:1883" && cfg.Ingest.MQTT.URL != "" {
		cfg.Simulate.MQTTURL = cfg.Ingest.MQTT.URL
	}
	for _, v := range []interface{ Validate() error }{&cfg.Kafka, &cfg.ClickHouse, &cfg.Ingest, &cfg.Stream, &cfg.Dashboard, &cfg.Simulate, &cfg.Retention, &cfg.Feeds} {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	switch cfg.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("config: log.level %q is not debug, info, warn or error", cfg.Log.Level)
	}
	switch cfg.Log.Format {
	case "", "text", "json":
	default:
		return nil, fmt.Errorf("config: log.format %q is not text or json", cfg.Log.Format)
	}
	return cfg, nil
}

// yamlString renders the effective configuration with secrets masked.
func yamlString(c *Config) (string, error) {
	cp := *c
	mask := func(s *string) {
		if *s != "" {
			*s = "***"
		}
	}
	mask(&cp.ClickHouse.Password)
	mask(&cp.Ingest.MQTT.Password)
	mask(&cp.Kafka.SASL.Password)
	b, err := yaml.Marshal(&cp)
	return string(b), err
}
