package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func testPeerConfig() PeerConfig {
	c := PeerConfig{MQTTURL: "tcp://127.0.0.1:1883", ClientID: "iocbench-1-benthos", MQTTPrefix: "benchpeer/1/",
		CHAddr: []string{"127.0.0.1:9000", "127.0.0.2:9000"}, Database: "ioc_benchpeer_1", HTTPAddr: "127.0.0.1:20201"}
	c.Defaults()
	return c
}

// The rendered configuration is the one the issue names: mqtt at QoS 1
// with a persistent session under a fixed client id, sql_insert with the
// clickhouse driver over the native protocol, batched by count and period.
func TestPeerConfigRender(t *testing.T) {
	c := testPeerConfig()
	b, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		HTTP struct {
			Address string `yaml:"address"`
		} `yaml:"http"`
		Metrics map[string]any `yaml:"metrics"`
		Input   struct {
			MQTT struct {
				URLs         []string `yaml:"urls"`
				ClientID     string   `yaml:"client_id"`
				Topics       []string `yaml:"topics"`
				QoS          *int     `yaml:"qos"`
				CleanSession *bool    `yaml:"clean_session"`
			} `yaml:"mqtt"`
		} `yaml:"input"`
		Output struct {
			SQLInsert struct {
				Driver      string   `yaml:"driver"`
				DSN         string   `yaml:"dsn"`
				Table       string   `yaml:"table"`
				Columns     []string `yaml:"columns"`
				ArgsMapping string   `yaml:"args_mapping"`
				Batching    struct {
					Count  int    `yaml:"count"`
					Period string `yaml:"period"`
				} `yaml:"batching"`
			} `yaml:"sql_insert"`
		} `yaml:"output"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	in, out := got.Input.MQTT, got.Output.SQLInsert
	if in.QoS == nil || *in.QoS != 1 || in.CleanSession == nil || *in.CleanSession || in.ClientID != "iocbench-1-benthos" {
		t.Errorf("mqtt input: qos %v clean_session %v client_id %q; want 1, false, the fixed id\n%s", in.QoS, in.CleanSession, in.ClientID, b)
	}
	if len(in.Topics) != 1 || in.Topics[0] != "benchpeer/1/sensors/#" || len(in.URLs) != 1 || in.URLs[0] != c.MQTTURL {
		t.Errorf("mqtt input: topics %v urls %v", in.Topics, in.URLs)
	}
	if out.Driver != "clickhouse" || out.DSN != "clickhouse://127.0.0.1:9000,127.0.0.2:9000/ioc_benchpeer_1?dial_timeout=5s" ||
		out.Table != PeerTable {
		t.Errorf("sql_insert: driver %q dsn %q table %q", out.Driver, out.DSN, out.Table)
	}
	if strings.Join(out.Columns, ",") != "device_id,partner,metric,unit,value,observed_ms" || !strings.Contains(out.ArgsMapping, `meta("mqtt_topic")`) {
		t.Errorf("sql_insert: columns %v, args_mapping %q", out.Columns, out.ArgsMapping)
	}
	if out.Batching.Count != 10000 || out.Batching.Period != "500ms" {
		t.Errorf("batching %+v, want 10000 or 500ms", out.Batching)
	}
	if _, ok := got.Metrics["none"]; !ok || got.HTTP.Address != c.HTTPAddr {
		t.Errorf("metrics %v http %q", got.Metrics, got.HTTP.Address)
	}
	if s := c.Summary(); !strings.Contains(s, "clean_session false") || !strings.Contains(s, "10,000 or 500ms") {
		t.Errorf("summary %q", s)
	}
}

func TestPeerConfigValidate(t *testing.T) {
	for name, mut := range map[string]func(*PeerConfig){
		"no client id":       func(c *PeerConfig) { c.ClientID = "" },
		"prefix without /":   func(c *PeerConfig) { c.MQTTPrefix = "benchpeer/1" },
		"no database":        func(c *PeerConfig) { c.Database = "" },
		"no clickhouse":      func(c *PeerConfig) { c.CHAddr = nil },
		"zero batch period":  func(c *PeerConfig) { c.BatchPeriod = -time.Second },
		"no http address":    func(c *PeerConfig) { c.HTTPAddr = "" },
		"zero max in flight": func(c *PeerConfig) { c.MaxInFlight = -1 },
	} {
		c := testPeerConfig()
		mut(&c)
		if _, err := c.Render(); err == nil {
			t.Errorf("%s: rendered without an error", name)
		}
	}
}

// With the peer built (make bench-peer-build), Benthos itself accepts the
// rendered configuration: every field exists in v4.27 and the mapping
// parses.
func TestPeerConfigLintsWithBenthos(t *testing.T) {
	bin := os.Getenv("IOC_BENTHOS")
	if bin == "" {
		if _, err := os.Stat("../.local/benthos/benthos"); err != nil {
			t.Skip("Benthos not built (make bench-peer-build, or IOC_BENTHOS=path)")
		}
		bin = "../.local/benthos/benthos"
	}
	c := testPeerConfig()
	b, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "benthos.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "lint", path).CombinedOutput(); err != nil {
		t.Fatalf("benthos lint: %v\n%s\n%s", err, out, b)
	}
}
