package ingest

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// ingest.mqtt.password_file: the password of ingest's MQTT account from a
// mounted Secret (Kubernetes, Compose secrets), as clickhouse.password_file.
func TestMQTTPasswordFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mqtt-password")
	if err := os.WriteFile(file, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s, err := New(Config{MQTT: MQTTConfig{Username: "ioc-ingest", PasswordFile: file}}, kafkaconn.Config{}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.mqttOptions().Password; got != "s3cret-from-file" {
		t.Errorf("password %q, want the file's content without its newline", got)
	}
	for name, tc := range map[string]struct {
		mqtt MQTTConfig
		want string
	}{
		"both":         {MQTTConfig{Password: "x", PasswordFile: file}, "not both"},
		"missing file": {MQTTConfig{PasswordFile: filepath.Join(dir, "none")}, "ingest.mqtt.password_file"},
	} {
		if _, err := New(Config{MQTT: tc.mqtt}, kafkaconn.Config{}, log, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}
