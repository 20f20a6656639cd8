// Package e2e runs the pipeline's roles against the real local services
// (Mosquitto, Apache Kafka, ClickHouse) that `make test` starts, and checks
// what crosses every hop: MQTT → Kafka → ClickHouse → websocket.
package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream"
	"github.com/sonla-ioc/ioc/stream/monitor"
)

// env holds the addresses of the real services and of the pipeline under
// test; every test run gets its own topics, database, group and client ids.
type env struct {
	mqttURL string
	kafka   kafkaconn.Config
	ch      chconn.Config
	conn    driver.Conn
	wallURL string
	run     string   // unique suffix of this run
	mount   string   // MQTT topic prefix of this run, so other pipelines on the broker never see its messages
	feeds   feedsEnv // the administrative feeds and the KPI engine (kpi_test.go)
	// registry is deploy/devices.csv plus the devices of the monitor's
	// tests, which report every second (monitor_test.go).
	registry string
	dash     *dashboard.Service
	kiosk    string               // a wall kiosk token: how the tests' websocket clients get in
	keyFile  string               // the dashboard's session signing key
	metrics  *prometheus.Registry // every role's metrics
}

var pipe *env

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	need := map[string]string{}
	for _, k := range []string{"IOC_MQTT_URL", "IOC_KAFKA_BROKERS", "IOC_CLICKHOUSE_ADDR"} {
		need[k] = os.Getenv(k)
		if need[k] == "" {
			fmt.Fprintf(os.Stderr, "e2e: %s is not set. These tests run against the real local services:\n"+
				"  run `make test` (it starts them), or `deploy/local/services.sh up && eval \"$(deploy/local/services.sh env)\"`\n", k)
			return 1
		}
	}
	run := fmt.Sprintf("%d%04d", time.Now().Unix()%100000, rand.IntN(10000))
	e := &env{
		mqttURL: need["IOC_MQTT_URL"],
		kafka:   kafkaconn.Config{Brokers: strings.Split(need["IOC_KAFKA_BROKERS"], ","), TopicPrefix: "e2e" + run + "."},
		ch:      chconn.Config{Addr: strings.Split(need["IOC_CLICKHOUSE_ADDR"], ","), Database: "ioc_e2e_" + run},
		run:     run,
		mount:   "e2e" + run + "/",
	}
	e.kafka.Defaults()
	e.ch.Defaults()
	level := slog.LevelWarn
	if os.Getenv("IOC_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	done, err := e.start(ctx, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the pipeline:", err)
		cancel()
		return 1
	}
	pipe = e
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "e2e: pipeline stopped with error:", err)
		code = 1
	}
	e.cleanup()
	return code
}

// start runs stream, ingest and dashboard in this process and waits until
// all three are ready.
func (e *env) start(ctx context.Context, log *slog.Logger) (<-chan error, error) {
	reg := prometheus.NewRegistry()
	e.metrics = reg
	var err error
	if e.registry, err = testRegistry(); err != nil {
		return nil, err
	}
	// Short thresholds so that devices go late, offline and silent within
	// a test: late after 2 intervals, offline after 4, a feed silent 3 s
	// after its last message (before its devices are offline, as with the
	// defaults).
	st, err := stream.New(stream.Config{GroupID: "e2e-stream-" + e.run, MaxAge: 200 * time.Millisecond, RegistryFile: e.registry,
		Status: monitor.StatusConfig{StaleAfter: 2, OfflineAfter: 4, MinOffline: time.Millisecond, FeedSilentAfter: 3 * time.Second,
			Tick: 100 * time.Millisecond},
		// The default rules, and a rate rule whose levels are set per
		// device from the admin API (devreg_test.go).
		Alerts: monitor.AlertsConfig{Rules: append(monitor.DefaultRules(), monitor.Rule{Name: "water_rise", Kind: monitor.KindRate,
			Metrics: []string{"level"}, Window: 30 * time.Minute, PerDevice: true})}}, e.kafka, e.ch, log, reg)
	if err != nil {
		return nil, err
	}
	in, err := ingest.New(ingest.Config{
		MQTT:         ingest.MQTTConfig{URL: e.mqttURL, ClientID: "e2e-ingest-" + e.run, MountPoint: e.mount},
		RegistryFile: e.registry, Partners: []string{"viettel", "vnpt", testPartner},
	}, e.kafka, log, reg)
	if err != nil {
		return nil, err
	}
	key, err := os.CreateTemp("", "ioc-e2e-session-key-")
	if err != nil {
		return nil, err
	}
	e.keyFile = key.Name()
	_, err = key.WriteString(strings.Repeat("e2e-session-key-", 3))
	key.Close()
	if err != nil {
		return nil, err
	}
	da, err := dashboard.New(dashboard.Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond,
		// Every test signs in from 127.0.0.1: the per-address sign-in limit
		// is raised so that only the per-account one (tested) bites.
		Auth: auth.Config{SessionKeyFile: e.keyFile, LoginPerIPPerMinute: 6000},
		// As `ioc dashboard` does (ingest.registry_file): the wall knows the
		// registered devices before the stream has loaded ClickHouse's table.
		Wall: dashboard.WallConfig{RegistryFile: e.registry}}, e.kafka, e.ch, log, reg)
	if err != nil {
		return nil, err
	}
	fe, ah, err := e.startFeeds(log, reg)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 5)
	roles := []interface {
		Run(context.Context) error
		Ready() bool
	}{st, in, da, fe, ah}
	for _, r := range roles {
		go func() { done <- r.Run(ctx) }()
	}
	errs := make(chan error, 1)
	go func() {
		var first error
		for range roles {
			if err := <-done; err != nil && first == nil {
				first = err
			}
		}
		errs <- first
	}()
	if !testpoll.Poll(90*time.Second, testpoll.Interval, func() bool {
		for _, r := range roles {
			if !r.Ready() {
				return false
			}
		}
		return true
	}) {
		return nil, fmt.Errorf("roles not ready after 90s (stream %v, ingest %v, dashboard %v)", st.Ready(), in.Ready(), da.Ready())
	}
	e.wallURL = "http://" + da.Addr().String()
	e.feeds.httpURL = "http://" + ah.Addr().String()
	e.dash = da
	e.conn, err = e.ch.Open(ctx)
	if err != nil {
		return nil, err
	}
	_, e.kiosk, err = da.Auth().CreateKiosk(ctx, "e2e wall "+e.run, auth.Principal{Name: "e2e"}, "")
	if err != nil {
		return nil, fmt.Errorf("creating the tests' kiosk token: %w", err)
	}
	return errs, nil
}

// cleanup drops what this run created on the shared services.
func (e *env) cleanup() {
	if os.Getenv("IOC_TEST_KEEP") != "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if e.conn != nil {
		_ = e.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+e.ch.Database)
		_ = e.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+e.ch.SecurityDatabase())
		e.conn.Close()
	}
	_, _ = e.kafka.DeleteTopicsWithPrefix(ctx) // every topic of the prefix, also those the roles created
	clearSession(e.mqttURL, "e2e-ingest-"+e.run)
	_ = os.Remove(e.registry)
	_ = os.Remove(e.keyFile)
}
