package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// closedAddr is a loopback address nothing listens on: a broker that is down.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Every role starts when the FIRST broker of kafka.brokers (and the first
// ClickHouse address) is down: the roles bootstrap from every address they
// are given, not from Brokers[0]. `ioc run` runs ingest, stream and the
// dashboard (whose live readers and the stream's monitor dial partition
// leaders); /readyz answers 200 only when all of them are up.
func TestEveryRoleStartsWithTheFirstBrokerDown(t *testing.T) {
	for _, k := range []string{"IOC_MQTT_URL", "IOC_KAFKA_BROKERS", "IOC_CLICKHOUSE_ADDR"} {
		if os.Getenv(k) == "" {
			t.Skipf("%s not set: this test needs the real local services (eval \"$(deploy/local/services.sh env)\")", k)
		}
	}
	run := fmt.Sprintf("%d%04d", time.Now().Unix()%100000, rand.IntN(10000))
	prefix, db := "boot"+run+".", "ioc_boot_"+run
	brokers := append([]string{closedAddr(t)}, strings.Split(os.Getenv("IOC_KAFKA_BROKERS"), ",")...)
	chAddrs := append([]string{closedAddr(t)}, strings.Split(os.Getenv("IOC_CLICKHOUSE_ADDR"), ",")...)
	ops, wall := closedAddr(t), closedAddr(t)
	repo, _ := filepath.Abs("../..")
	cfgPath := filepath.Join(t.TempDir(), "ioc.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`kafka:
  partitions: 3
clickhouse:
  database: ioc
ingest:
  mqtt:
    client_id: boot-%s
    topic: "sensors/boot%s/+"
  partners: [boot%s]
  registry_file: %q
stream:
  group_id: boot-%s
dashboard:
  auth:
    dev_open: true
`, run, run, run, filepath.Join(repo, "deploy", "devices.csv"), run)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IOC_KAFKA_BROKERS", strings.Join(brokers, ","))
	t.Setenv("IOC_CLICKHOUSE_ADDR", strings.Join(chAddrs, ","))
	t.Setenv("IOC_KAFKA_TOPIC_PREFIX", prefix)
	t.Setenv("IOC_CLICKHOUSE_DATABASE", db)
	t.Setenv("IOC_OPS_LISTEN", ops)
	t.Setenv("IOC_DASHBOARD_LISTEN", wall)
	t.Setenv("IOC_LOG_LEVEL", "warn")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runCommand(ctx, "run", []string{"-config", cfgPath}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("ioc run did not stop within 30s")
		}
		cleanupRun(t, brokers, chAddrs, prefix, db)
	})

	client := http.Client{Timeout: 2 * time.Second}
	testpoll.Eventually(t, 90*time.Second, "ioc run ready with the first broker and the first ClickHouse address down", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("ioc run exited: %v", err)
		default:
		}
		resp, err := client.Get("http://" + ops + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("/readyz: %d %s", resp.StatusCode, b)
	})
}

func cleanupRun(t *testing.T, brokers, chAddrs []string, prefix, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch := chconn.Config{Addr: chAddrs, Database: db}
	ch.Defaults()
	if conn, err := ch.Open(ctx); err == nil {
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ch.SecurityDatabase())
		conn.Close()
	}
	kc := kafkaconn.Config{Brokers: brokers, TopicPrefix: prefix}
	kc.Defaults()
	_, _ = kc.DeleteTopicsWithPrefix(ctx)
}
