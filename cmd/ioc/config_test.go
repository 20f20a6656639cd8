package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clearEnv hides the IOC_* overrides that `make test` exports for the e2e
// tests, so these tests see the files alone.
func clearEnv(t *testing.T) {
	for _, o := range envOverrides {
		t.Setenv(o.name, "")
	}
}

func TestShippedConfigIsValid(t *testing.T) {
	clearEnv(t)
	cfg, err := loadConfig("../../deploy/ioc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dashboard.Listen != ":8080" || cfg.Ingest.MQTT.URL != "tcp://127.0.0.1:1883" || cfg.ClickHouse.Database != "ioc" {
		t.Errorf("unexpected effective config: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	clearEnv(t)
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":   {"ingest:\n  mqtt:\n    urll: tcp://x:1\n", "field urll not found"},
		"bad mqtt url":  {"ingest:\n  mqtt:\n    url: localhost\n", "ingest.mqtt.url"},
		"bad broker":    {"kafka:\n  brokers: [nohost]\n", "kafka.brokers"},
		"tiny max_age":  {"stream:\n  max_age: 1ms\n", "stream.max_age"},
		"bad log level": {"log:\n  level: loud\n", "log.level"},
		// Size bounds that do not agree with the next hop (docs/reliability.md).
		"batch over the broker":  {"ingest:\n  kafka_batch_bytes: 1048576\n", "lower kafka_batch_bytes to at most"},
		"dead letter over batch": {"ingest:\n  kafka_batch_bytes: 65536\n", "cannot hold the largest record"},
		"broker below batch":     {"ingest:\n  kafka_max_message_bytes: 500000\n", "ingest.kafka_max_message_bytes 500000"},
		"half of a TLS pair":     {"ingest:\n  http:\n    listen: \":8090\"\n    tls_cert_file: /etc/ioc/ingest.crt\n", "tls_key_file"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

func TestEnvOverridesAndMaskedSecrets(t *testing.T) {
	clearEnv(t)
	t.Setenv("IOC_KAFKA_BROKERS", "k1:9092,k2:9092")
	t.Setenv("IOC_CLICKHOUSE_PASSWORD", "s3cret")
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Kafka.Brokers) != 2 || cfg.ClickHouse.Password != "s3cret" {
		t.Errorf("env not applied: %+v %+v", cfg.Kafka, cfg.ClickHouse)
	}
	out, err := yamlString(cfg)
	if err != nil || strings.Contains(out, "s3cret") {
		t.Errorf("check-config output leaks the password: %v", err)
	}
}
