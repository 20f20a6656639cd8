package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/notify"
	kpireport "github.com/sonla-ioc/ioc/report"
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
	// Notify routes alerts to people: webhook, e-mail, Telegram, Zalo OA
	// (`ioc notify`, also in `ioc run`; docs/notifications.md).
	Notify notify.Config `yaml:"notify"`
	// Reports are the leadership's KPI reports made by themselves once a
	// period closes (dashboard role; docs/reports.md).
	Reports kpireport.ScheduleConfig `yaml:"reports"`
}

// LogConfig selects log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// OpsConfig is the operations endpoint.
type OpsConfig struct {
	Listen string `yaml:"listen"`
	// ReadTimeout bounds reading a whole request (default 10s; the header
	// within 5s), IdleTimeout a kept-alive connection between requests
	// (default 2m).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// Defaults fills unset fields.
func (c *OpsConfig) Defaults() {
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
}

// Validate reports settings that cannot work.
func (c *OpsConfig) Validate() error {
	if c.ReadTimeout < time.Second || c.IdleTimeout < time.Second {
		return fmt.Errorf("ops.read_timeout (%s) and ops.idle_timeout (%s) must be at least 1s", c.ReadTimeout, c.IdleTimeout)
	}
	return nil
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
	{"IOC_CLICKHOUSE_CLUSTER", func(c *Config, v string) { c.ClickHouse.Cluster = v }},
	{"IOC_CLICKHOUSE_USER", func(c *Config, v string) { c.ClickHouse.Username = v }},
	{"IOC_CLICKHOUSE_PASSWORD", func(c *Config, v string) { c.ClickHouse.Password = v }},
	{"IOC_CLICKHOUSE_PASSWORD_FILE", func(c *Config, v string) { c.ClickHouse.PasswordFile = v }},
	// Each role's own account (clickhouse.accounts, docs/security.md).
	{"IOC_CLICKHOUSE_STREAM_USER", chAccount(chconn.RoleStream, func(a *chconn.Account, v string) { a.Username = v })},
	{"IOC_CLICKHOUSE_STREAM_PASSWORD", chAccount(chconn.RoleStream, func(a *chconn.Account, v string) { a.Password = v })},
	{"IOC_CLICKHOUSE_STREAM_PASSWORD_FILE", chAccount(chconn.RoleStream, func(a *chconn.Account, v string) { a.PasswordFile = v })},
	{"IOC_CLICKHOUSE_DASHBOARD_USER", chAccount(chconn.RoleDashboard, func(a *chconn.Account, v string) { a.Username = v })},
	{"IOC_CLICKHOUSE_DASHBOARD_PASSWORD", chAccount(chconn.RoleDashboard, func(a *chconn.Account, v string) { a.Password = v })},
	{"IOC_CLICKHOUSE_DASHBOARD_PASSWORD_FILE", chAccount(chconn.RoleDashboard, func(a *chconn.Account, v string) { a.PasswordFile = v })},
	{"IOC_CLICKHOUSE_INGEST_USER", chAccount(chconn.RoleIngest, func(a *chconn.Account, v string) { a.Username = v })},
	{"IOC_CLICKHOUSE_INGEST_PASSWORD", chAccount(chconn.RoleIngest, func(a *chconn.Account, v string) { a.Password = v })},
	{"IOC_CLICKHOUSE_INGEST_PASSWORD_FILE", chAccount(chconn.RoleIngest, func(a *chconn.Account, v string) { a.PasswordFile = v })},
	{"IOC_CLICKHOUSE_NOTIFY_USER", chAccount(chconn.RoleNotify, func(a *chconn.Account, v string) { a.Username = v })},
	{"IOC_CLICKHOUSE_NOTIFY_PASSWORD", chAccount(chconn.RoleNotify, func(a *chconn.Account, v string) { a.Password = v })},
	{"IOC_CLICKHOUSE_NOTIFY_PASSWORD_FILE", chAccount(chconn.RoleNotify, func(a *chconn.Account, v string) { a.PasswordFile = v })},
	{"IOC_DASHBOARD_LISTEN", func(c *Config, v string) { c.Dashboard.Listen = v }},
	{"IOC_OPS_LISTEN", func(c *Config, v string) { c.Ops.Listen = v }},
	{"IOC_LOG_LEVEL", func(c *Config, v string) { c.Log.Level = v }},
	{"IOC_INGEST_HTTP_LISTEN", func(c *Config, v string) { c.Ingest.HTTP.Listen = v }},
	{"IOC_INGEST_HTTP_TOKENS", func(c *Config, v string) { c.Ingest.HTTP.Tokens = v }},
	{"IOC_KAFKA_SASL_USERNAME", func(c *Config, v string) { c.Kafka.SASL.Username = v }},
	{"IOC_KAFKA_SASL_PASSWORD", func(c *Config, v string) { c.Kafka.SASL.Password = v }},
}

// chAccount applies an environment variable to one role's ClickHouse account.
func chAccount(role string, set func(*chconn.Account, string)) func(*Config, string) {
	return func(c *Config, v string) {
		if c.ClickHouse.Accounts == nil {
			c.ClickHouse.Accounts = map[string]chconn.Account{}
		}
		a := c.ClickHouse.Accounts[role]
		set(&a, v)
		c.ClickHouse.Accounts[role] = a
	}
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
	if cfg.Stream.Rollup.LateWindow == 0 {
		// Late readings reach back as far as ingest accepts them.
		cfg.Stream.Rollup.LateWindow = cfg.Ingest.MaxPast + 24*time.Hour
	}
	cfg.Stream.Defaults()
	if cfg.Dashboard.StreamGroup == "" {
		cfg.Dashboard.StreamGroup = cfg.Stream.GroupID // the wall shows this group's lag
	}
	cfg.Dashboard.Defaults()
	cfg.Simulate.Defaults()
	cfg.Feeds.Defaults()
	cfg.Retention.Defaults()
	cfg.Reports.Defaults()
	cfg.Ops.Defaults()
	cfg.Notify.Defaults()
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
	for _, v := range []interface{ Validate() error }{&cfg.Kafka, &cfg.ClickHouse, &cfg.Ingest, &cfg.Stream, &cfg.Dashboard, &cfg.Simulate, &cfg.Retention, &cfg.Feeds, &cfg.Ops, &cfg.Notify, &cfg.Reports} {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	if err := cfg.Notify.CheckReportChannels(cfg.Reports.Channels); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.Stream.Rollup.LateWindow < cfg.Ingest.MaxPast {
		return nil, fmt.Errorf("config: stream.rollup.late_window %s is shorter than ingest.max_past %s: readings that late are accepted "+
			"but their hours would never be rolled up again; raise late_window or leave it unset (ingest.max_past plus a day)",
			cfg.Stream.Rollup.LateWindow, cfg.Ingest.MaxPast)
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
	if len(c.ClickHouse.Accounts) > 0 {
		cp.ClickHouse.Accounts = map[string]chconn.Account{}
		for role, a := range c.ClickHouse.Accounts {
			mask(&a.Password)
			cp.ClickHouse.Accounts[role] = a
		}
	}
	mask(&cp.Ingest.MQTT.Password)
	mask(&cp.Kafka.SASL.Password)
	b, err := yaml.Marshal(&cp)
	return string(b), err
}
