package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/chconn"
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
	if cfg.Dashboard.Listen != "127.0.0.1:8080" || !cfg.Dashboard.Auth.DevOpen || cfg.Ingest.MQTT.URL != "tcp://127.0.0.1:1883" || cfg.ClickHouse.Database != "ioc" {
		t.Errorf("unexpected effective config: %+v", cfg)
	}
}

// deploy/ioc-cluster.yaml names the whole local cluster topology
// (deploy/local/cluster.sh): every broker, every ClickHouse server, the cluster.
func TestShippedClusterConfigIsValid(t *testing.T) {
	clearEnv(t)
	cfg, err := loadConfig("../../deploy/ioc-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Kafka.Brokers) != 3 || cfg.Kafka.ReplicationFactor != 3 || len(cfg.ClickHouse.Addr) != 4 ||
		cfg.ClickHouse.Cluster != "ioc_cluster" || cfg.ClickHouse.Table("sensor_readings_raw") != "ioc.sensor_readings_raw_all" {
		t.Errorf("unexpected effective cluster config: kafka %+v, clickhouse %+v", cfg.Kafka, cfg.ClickHouse)
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
		"batch over the broker":         {"ingest:\n  kafka_batch_bytes: 1048576\n", "lower kafka_batch_bytes to at most"},
		"dead letter over batch":        {"ingest:\n  kafka_batch_bytes: 65536\n", "cannot hold the largest record"},
		"broker below batch":            {"ingest:\n  kafka_max_message_bytes: 500000\n", "ingest.kafka_max_message_bytes 500000"},
		"late window short of max_past": {"ingest:\n  max_past: 240h\nstream:\n  rollup:\n    late_window: 48h\n", "stream.rollup.late_window 48h0m0s is shorter than ingest.max_past"},
		"rollups shorter than readings": {"retention:\n  rollups_days: 100\n", "rollups_days 100 is below readings_days 400"},
		"half of a TLS pair":            {"ingest:\n  http:\n    listen: \":8090\"\n    tls_cert_file: /etc/ioc/ingest.crt\n", "tls_key_file"},
		// The notifier (docs/notifications.md).
		"unsigned webhook":        {"notify:\n  channels:\n    h: {kind: webhook, url: \"https://hook.example/x\"}\n", "notify.channels.h: a webhook is signed"},
		"route to no channel":     {"notify:\n  routes:\n    - {channels: [nope]}\n", `channel "nope" is not in notify.channels`},
		"report to no channel":    {"reports:\n  dir: /tmp/r\n  monthly: true\n  channels: [email-leaders]\n", `reports.channels: channel "email-leaders" is not in notify.channels`},
		"report channels, no dir": {"reports:\n  channels: [x]\n", "reports.channels is set but reports.dir is not"},
		"notify unknown key":      {"notify:\n  chanels: {}\n", "field chanels not found"},
		"bad quiet hours":         {"notify:\n  channels:\n    z: {kind: zalo, token_env: Z, user_id: \"1\"}\n  routes:\n    - {channels: [z], quiet_hours: {from: \"22\", to: \"06:00\"}}\n", "HH:MM"},
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

// dev_open is for a developer's own machine: check-config refuses it on
// any listen address that is not loopback, and refuses the admin role for
// anonymous visitors whatever the address.
func TestDevOpenOnlyOnLoopback(t *testing.T) {
	clearEnv(t)
	for _, c := range []struct {
		listen, role string
		devOpen      bool
		want         string // empty: accepted
	}{
		{"127.0.0.1:8080", "", true, ""},
		{"127.0.0.2:8080", "", true, ""},
		{"[::1]:8080", "", true, ""},
		{"localhost:8080", "", true, ""},
		{"LOCALHOST:8080", "analyst", true, ""},
		{":8080", "", true, "dashboard.auth.dev_open"},
		{"0.0.0.0:8080", "", true, "dashboard.auth.dev_open"},
		{"[::]:8080", "", true, "dashboard.auth.dev_open"},
		{"10.0.0.5:8080", "", true, "dashboard.auth.dev_open"},
		{"192.168.1.10:8080", "", true, "dashboard.auth.dev_open"},
		{"wall.example:8080", "", true, "dashboard.auth.dev_open"},
		{"localhost.evil.example:8080", "", true, "dashboard.auth.dev_open"},
		{"[fe80::1%lo]:8080", "", true, "dashboard.auth.dev_open"},
		{":8080", "", false, ""}, // closed: any address
		{"127.0.0.1:8080", "admin", true, "dev_open_role: admin is refused"},
		{"127.0.0.1:8080", "admin", false, "dev_open_role: admin is refused"},
		{"127.0.0.1:8080", "root", true, "dev_open_role"},
	} {
		body := fmt.Sprintf("dashboard:\n  listen: %q\n  auth:\n    dev_open: %v\n", c.listen, c.devOpen)
		if c.role != "" {
			body += "    dev_open_role: " + c.role + "\n"
		}
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("listen %s, dev_open %v, role %q: refused: %v", c.listen, c.devOpen, c.role, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("listen %s, dev_open %v, role %q: error %v, want one mentioning %q", c.listen, c.devOpen, c.role, err, c.want)
		}
	}
	// The shipped file with its address overridden to every interface.
	t.Setenv("IOC_DASHBOARD_LISTEN", ":8080")
	if _, err := loadConfig("../../deploy/ioc.yaml"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("deploy/ioc.yaml with IOC_DASHBOARD_LISTEN=:8080: %v, want a refusal naming loopback", err)
	}
}

// Each role's own ClickHouse account comes from the file or the
// environment; the administrative account stays clickhouse.username, and a
// role may not run as it.
func TestClickHouseAccountsPerRole(t *testing.T) {
	clearEnv(t)
	cfg, err := loadConfig("../../deploy/ioc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for role, user := range map[string]string{chconn.RoleStream: "ioc_pipeline", chconn.RoleDashboard: "ioc_dashboard", chconn.RoleIngest: "ioc_ingest"} {
		c := cfg.ClickHouse.For(role)
		if c.Username != user || c.PasswordFile != ".local/clickhouse/secrets/"+user+".password" {
			t.Errorf("deploy/ioc.yaml: role %s connects as %q (%q), want %s", role, c.Username, c.PasswordFile, user)
		}
	}
	if cfg.ClickHouse.Username != "default" {
		t.Errorf("administrative account %q", cfg.ClickHouse.Username)
	}

	t.Setenv("IOC_CLICKHOUSE_DASHBOARD_USER", "svc_dashboard")
	t.Setenv("IOC_CLICKHOUSE_DASHBOARD_PASSWORD", "dash-s3cret")
	t.Setenv("IOC_CLICKHOUSE_STREAM_USER", "svc_stream")
	t.Setenv("IOC_CLICKHOUSE_STREAM_PASSWORD_FILE", "/run/secrets/stream")
	t.Setenv("IOC_CLICKHOUSE_USER", "ioc_admin")
	t.Setenv("IOC_CLICKHOUSE_PASSWORD_FILE", "/run/secrets/admin")
	if cfg, err = loadConfig(""); err != nil {
		t.Fatal(err)
	}
	d, s, i := cfg.ClickHouse.For(chconn.RoleDashboard), cfg.ClickHouse.For(chconn.RoleStream), cfg.ClickHouse.For(chconn.RoleIngest)
	if d.Username != "svc_dashboard" || d.Password != "dash-s3cret" || s.Username != "svc_stream" || s.PasswordFile != "/run/secrets/stream" {
		t.Errorf("environment not applied: dashboard %+v, stream %+v", d, s)
	}
	if i.Username != "ioc_admin" || i.PasswordFile != "/run/secrets/admin" {
		t.Errorf("a role without an account runs as %q (%q), want the administrative account", i.Username, i.PasswordFile)
	}
	out, err := yamlString(cfg)
	if err != nil || strings.Contains(out, "dash-s3cret") {
		t.Errorf("check-config output leaks a role's password: %v\n%s", err, out)
	}

	for name, tc := range map[string]struct{ body, want string }{
		"unknown role":   {"clickhouse:\n  accounts:\n    analyst: {username: a}\n", `"analyst" is not a role`},
		"no username":    {"clickhouse:\n  accounts:\n    stream: {password_file: /x}\n", "clickhouse.accounts.stream.username: required"},
		"admin as role":  {"clickhouse:\n  username: root\n  accounts:\n    dashboard: {username: root}\n", "is the administrative account"},
		"both passwords": {"clickhouse:\n  accounts:\n    ingest: {username: i, password: p, password_file: /x}\n", "not both"},
	} {
		clearEnv(t)
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}
