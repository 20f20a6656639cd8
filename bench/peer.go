package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// PeerVersion is the Benthos release bench/benthos builds.
const PeerVersion = "Benthos v4.27.0"

// PeerConfig is how the peer, Benthos, carries the same readings: its
// `mqtt` input at QoS 1 with a persistent session under a fixed client
// id, its `sql_insert` output with the clickhouse driver (clickhouse-go
// v2 over the native protocol), batched by count and period. It reads
// topics of its own (MQTTPrefix) and writes a database of its own.
type PeerConfig struct {
	MQTTURL     string
	ClientID    string
	MQTTPrefix  string // e.g. benchpeer/123456/: it reads MQTTPrefix + "sensors/#"
	CHAddr      []string
	Database    string
	BatchCount  int
	BatchPeriod time.Duration
	// MaxInFlight is sql_insert's concurrent batches (Benthos's default 64).
	MaxInFlight int
	// HTTPAddr serves /ready (and Benthos's other endpoints).
	HTTPAddr string
}

// PeerTable is the table the peer writes, in PeerConfig.Database.
const PeerTable = "readings"

// Defaults are the reference configuration (shared/PARTS.md: batches of
// 10,000 or 500 ms).
func (c *PeerConfig) Defaults() {
	if c.BatchCount == 0 {
		c.BatchCount = 10000
	}
	if c.BatchPeriod == 0 {
		c.BatchPeriod = 500 * time.Millisecond
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 64
	}
}

// Validate reports a configuration Benthos could not run.
func (c *PeerConfig) Validate() error {
	switch {
	case c.MQTTURL == "" || c.ClientID == "" || c.MQTTPrefix == "" || !strings.HasSuffix(c.MQTTPrefix, "/"):
		return fmt.Errorf("peer: MQTT url, client id and a topic prefix ending in / are required (got %q, %q, %q)",
			c.MQTTURL, c.ClientID, c.MQTTPrefix)
	case len(c.CHAddr) == 0 || c.Database == "":
		return fmt.Errorf("peer: ClickHouse address and database are required")
	case c.BatchCount < 1 || c.BatchPeriod <= 0 || c.MaxInFlight < 1:
		return fmt.Errorf("peer: batch count, batch period and max in flight must be positive")
	case c.HTTPAddr == "":
		return fmt.Errorf("peer: an HTTP address for /ready is required")
	}
	return nil
}

// DSN is the sql_insert data source: Benthos 4.27 hands it to
// clickhouse-go v2's database/sql driver, whose clickhouse:// form speaks
// the native protocol (its HTTP mode fails on ClickHouse 18.16).
func (c *PeerConfig) DSN() string {
	return "clickhouse://" + strings.Join(c.CHAddr, ",") + "/" + c.Database + "?dial_timeout=5s"
}

// peerArgsMapping turns one SenML pack of one reading, on topic
// <prefix>sensors/<partner>/<device>, into the row's arguments: device,
// partner, metric, unit, value and the observation time in epoch ms.
const peerArgsMapping = `let topic = meta("mqtt_topic").split("/")
let r = this.index(0)
root = [ $topic.index(-1), $topic.index(-2), $r.n, $r.u, $r.v.number(), ($r.bt * 1000).round().int64() ]
`

var peerColumns = []string{"device_id", "partner", "metric", "unit", "value", "observed_ms"}

// Render writes Benthos's YAML configuration.
func (c *PeerConfig) Render() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	type batching struct {
		Count  int    `yaml:"count"`
		Period string `yaml:"period"`
	}
	type sqlInsert struct {
		Driver      string   `yaml:"driver"`
		DSN         string   `yaml:"dsn"`
		Table       string   `yaml:"table"`
		Columns     []string `yaml:"columns"`
		ArgsMapping string   `yaml:"args_mapping"`
		MaxInFlight int      `yaml:"max_in_flight"`
		Batching    batching `yaml:"batching"`
	}
	type mqttIn struct {
		URLs         []string `yaml:"urls"`
		ClientID     string   `yaml:"client_id"`
		Topics       []string `yaml:"topics"`
		QoS          int      `yaml:"qos"`
		CleanSession bool     `yaml:"clean_session"`
		KeepAlive    int      `yaml:"keepalive"`
	}
	type config struct {
		HTTP struct {
			Address string `yaml:"address"`
		} `yaml:"http"`
		Logger struct {
			Level  string `yaml:"level"`
			Format string `yaml:"format"`
		} `yaml:"logger"`
		Metrics struct {
			None struct{} `yaml:"none"`
		} `yaml:"metrics"`
		Input struct {
			MQTT mqttIn `yaml:"mqtt"`
		} `yaml:"input"`
		Output struct {
			SQLInsert sqlInsert `yaml:"sql_insert"`
		} `yaml:"output"`
	}
	var cfg config
	cfg.HTTP.Address = c.HTTPAddr
	cfg.Logger.Level, cfg.Logger.Format = "WARN", "logfmt"
	cfg.Input.MQTT = mqttIn{URLs: []string{c.MQTTURL}, ClientID: c.ClientID, Topics: []string{c.MQTTPrefix + "sensors/#"},
		QoS: 1, CleanSession: false, KeepAlive: 30}
	cfg.Output.SQLInsert = sqlInsert{Driver: "clickhouse", DSN: c.DSN(), Table: PeerTable, Columns: peerColumns,
		ArgsMapping: peerArgsMapping, MaxInFlight: c.MaxInFlight,
		Batching: batching{Count: c.BatchCount, Period: c.BatchPeriod.String()}}
	return yaml.Marshal(&cfg)
}

// Summary states the configuration in one line for the report.
func (c *PeerConfig) Summary() string {
	return fmt.Sprintf("%s: mqtt input (QoS 1, clean_session false, client_id %s) → sql_insert (driver clickhouse, "+
		"batches of %s or %s, max_in_flight %d); no Kafka hop", PeerVersion, c.ClientID, num(float64(c.BatchCount)),
		c.BatchPeriod, c.MaxInFlight)
}

// Peer is Benthos running with a PeerConfig.
type Peer struct {
	Cfg    PeerConfig
	Bin    string
	Log    string // its log file
	YAML   []byte // the configuration it runs
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// StartPeer creates the peer's database and table, writes its
// configuration into dir and starts bin, then waits until it is ready and
// a first reading went through it (its subscription is in place).
func StartPeer(ctx context.Context, cfg PeerConfig, bin, dir string, log *slog.Logger) (*Peer, error) {
	cfg.Defaults()
	b, err := cfg.Render()
	if err != nil {
		return nil, err
	}
	pe := &Peer{Cfg: cfg, Bin: bin, YAML: b, Log: filepath.Join(dir, "benthos.log"), exited: make(chan struct{})}
	if err := pe.createTable(ctx); err != nil {
		return pe, err
	}
	path := filepath.Join(dir, "benthos.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return pe, err
	}
	logf, err := os.OpenFile(pe.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return pe, err
	}
	pe.cmd = exec.Command(bin, "-c", path)
	pe.cmd.Stdout, pe.cmd.Stderr = logf, logf
	if err := pe.cmd.Start(); err != nil {
		logf.Close()
		close(pe.exited)
		return pe, fmt.Errorf("starting the peer %s (build it with `make bench-peer-build`): %w", bin, err)
	}
	go func() {
		pe.err = pe.cmd.Wait()
		logf.Close()
		close(pe.exited)
	}()
	log.Info("peer started", "bin", bin, "pid", pe.cmd.Process.Pid, "config", path)
	if err := pe.waitReady(ctx, 60*time.Second); err != nil {
		return pe, err
	}
	return pe, pe.prime(ctx)
}

func (pe *Peer) createTable(ctx context.Context) error {
	set, err := sqltmpl.Parse(sqlFS, nil, nil, "sql/peer_table.sql")
	if err != nil {
		return err
	}
	q, err := set.Render("peer_table.sql", map[string]any{"DB": pe.Cfg.Database, "Table": PeerTable})
	if err != nil {
		return err
	}
	chc := chconn.Config{Addr: pe.Cfg.CHAddr}
	chc.Defaults()
	conn, err := chc.Open(ctx)
	if err != nil {
		return fmt.Errorf("peer: connecting to ClickHouse: %w", err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+pe.Cfg.Database); err != nil {
		return fmt.Errorf("peer: creating database %s: %w", pe.Cfg.Database, err)
	}
	if err := conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("peer: creating table %s.%s: %w", pe.Cfg.Database, PeerTable, err)
	}
	return nil
}

func (pe *Peer) waitReady(ctx context.Context, timeout time.Duration) error {
	ready, err := waitHTTPReady(ctx, "http://"+pe.Cfg.HTTPAddr+"/ready", timeout, pe.Alive)
	switch {
	case err != nil:
		return err
	case !ready:
		return fmt.Errorf("the peer was not ready after %s; its log %s ends:\n%s", timeout, pe.Log, tail(pe.Log, 5))
	}
	return nil
}

// prime publishes one reading on the peer's topics, again every second,
// until one is in ClickHouse: Benthos reports ready before its
// subscription is in place, and a window must not start before.
func (pe *Peer) prime(ctx context.Context) error {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(pe.Cfg.MQTTURL).SetClientID(pe.Cfg.ClientID + "-prime").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("peer: connecting the priming publisher to %s: %v", pe.Cfg.MQTTURL, tok.Error())
	}
	defer c.Disconnect(100)
	chc := chconn.Config{Addr: pe.Cfg.CHAddr, Database: pe.Cfg.Database}
	chc.Defaults()
	conn, err := chc.Open(ctx)
	if err != nil {
		return fmt.Errorf("peer: connecting to ClickHouse: %w", err)
	}
	defer conn.Close()
	topic := pe.Cfg.MQTTPrefix + event.SensorTopic("vnpt", "prime")
	var last time.Time
	var n uint64
	ok := testpoll.Poll(60*time.Second, testpoll.Interval, func() bool {
		if pe.Alive() != nil || ctx.Err() != nil {
			return true
		}
		if time.Since(last) >= time.Second {
			last = time.Now()
			c.Publish(topic, 1, false, AppendPack(nil, last.UnixMilli()*1000, 3, 1, 0)).WaitTimeout(5 * time.Second)
		}
		err := conn.QueryRow(ctx, "SELECT count() FROM "+pe.Cfg.Database+"."+PeerTable).Scan(&n)
		return err == nil && n > 0
	})
	if err := pe.Alive(); err != nil {
		return err
	}
	if !ok || n == 0 {
		return fmt.Errorf("peer: no reading reached %s.%s within 60s; its log %s ends:\n%s", pe.Cfg.Database, PeerTable, pe.Log, tail(pe.Log, 5))
	}
	return ctx.Err()
}

// Alive reports the peer having exited.
func (pe *Peer) Alive() error {
	select {
	case <-pe.exited:
		return fmt.Errorf("the peer exited (%v); its log %s ends:\n%s", pe.err, pe.Log, tail(pe.Log, 5))
	default:
	}
	return nil
}

// Proc is the peer for the meter.
func (pe *Peer) Proc() Proc {
	return Proc{Name: "benthos", Kind: "role", Pid: pe.cmd.Process.Pid, Own: true}
}

// Stop ends Benthos (SIGTERM, then a kill after 30 s).
func (pe *Peer) Stop() {
	if pe.cmd == nil || pe.cmd.Process == nil {
		return
	}
	select {
	case <-pe.exited:
		return
	default:
	}
	_ = pe.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pe.exited:
	case <-time.After(30 * time.Second):
		_ = pe.cmd.Process.Kill()
		<-pe.exited
	}
}

// Cleanup drops the peer's database and its persistent MQTT session.
func (pe *Peer) Cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	chc := chconn.Config{Addr: pe.Cfg.CHAddr}
	chc.Defaults()
	if conn, err := chc.Open(ctx); err == nil {
		dropDatabases(ctx, conn, pe.Cfg.Database)
		conn.Close()
	}
	clearSession(pe.Cfg.MQTTURL, pe.Cfg.ClientID)
}

// NewPeerConfig is the peer's configuration for a run: its own client id,
// topics and database, and a free port for its HTTP server.
func NewPeerConfig(p *Params, run string) (PeerConfig, error) {
	addr, err := freeAddr()
	if err != nil {
		return PeerConfig{}, err
	}
	c := PeerConfig{MQTTURL: p.MQTTURL, ClientID: "iocbench-" + run + "-benthos", MQTTPrefix: "benchpeer/" + run + "/",
		CHAddr: p.ClickHouseAddr, Database: "ioc_benchpeer_" + run, HTTPAddr: addr}
	c.Defaults()
	return c, c.Validate()
}

func (c *PeerConfig) chConfig() chconn.Config {
	chc := chconn.Config{Addr: c.CHAddr, Database: c.Database}
	chc.Defaults()
	return chc
}
