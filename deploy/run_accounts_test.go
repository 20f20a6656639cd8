package deploy_test

// `ioc run` (every role in one process) connects each role to ClickHouse
// with the account clickhouse.accounts gives it, and applies the migrations
// with the administrative account: shown on a ClickHouse server of this
// test (services.sh's accounts) through its own query log, with the real
// local Kafka and Mosquitto (own topics, own MQTT mount point).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/procout"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

func TestRunConnectsEachRoleWithItsOwnAccount(t *testing.T) {
	mqttURL, brokers := os.Getenv("IOC_MQTT_URL"), os.Getenv("IOC_KAFKA_BROKERS")
	if mqttURL == "" || brokers == "" {
		t.Skip("IOC_MQTT_URL / IOC_KAFKA_BROKERS not set: runs against the local services (make test)")
	}
	dir, port := startOwnClickHouse(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	secrets := filepath.Join(dir, "clickhouse", "secrets")
	run := fmt.Sprintf("runacct%d", time.Now().UnixNano()%1e9)
	opsPort, dashPort, httpPort := freeLocalPort(t), freeLocalPort(t), freeLocalPort(t)
	token := run + "-0123456789abcdef0123"
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
  topic_prefix: %s.
  partitions: 1
  replication_factor: 1
clickhouse:
  addr: [%q]
  database: ioc
  username: default
  accounts:
    stream: {username: ioc_pipeline, password_file: %q}
    dashboard: {username: ioc_dashboard, password_file: %q}
    ingest: {username: ioc_ingest, password_file: %q}
ingest:
  mqtt: {url: %q, client_id: %s, mount_point: %s/}
  registry_file: %q
  http: {listen: "127.0.0.1:%d"}
stream:
  group_id: %s
feeds:
  group_id: %s-feeds
dashboard:
  listen: "127.0.0.1:%d"
ops:
  listen: "127.0.0.1:%d"
`, strings.Split(brokers, ",")[0], run, addr,
		filepath.Join(secrets, "ioc_pipeline.password"), filepath.Join(secrets, "ioc_dashboard.password"), filepath.Join(secrets, "ioc_ingest.password"),
		mqttURL, run, run, repoPath("deploy/devices.csv"), httpPort, run, run, dashPort, opsPort)
	path := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), TopicPrefix: run + "."}
		_, _ = kc.DeleteTopicsWithPrefix(context.Background())
	})

	var out procout.Buffer
	// query_log's event_time has whole seconds: the second this run began.
	since := time.Now().Truncate(time.Second)
	cmd := exec.Command(iocBin, "run", "-config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "IOC_INGEST_HTTP_TOKENS=eoffice " + token + " document"}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
	}
	t.Cleanup(func() {
		stop()
		// Drop ingest's persistent session from the shared broker.
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mqttURL).SetClientID(run).SetCleanSession(true))
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			c.Disconnect(100)
		}
	})
	testpoll.Eventually(t, 90*time.Second, "ioc run ready", func() (bool, string) {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("ioc run exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", opsPort))
		if err != nil {
			return false, err.Error() + "\n" + out.String()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	// A refused administrative post: ingest writes its audit event.
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/events/document", httpPort), "application/json", strings.NewReader(`[]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a post without a token answered %s", resp.Status)
	}

	admin := chconn.Config{Addr: []string{addr}}
	admin.Defaults()
	conn, err := admin.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	for _, c := range []struct{ user, like, what string }{
		{"ioc_pipeline", "INSERT INTO ioc.devices%", "stream loads the registry"},
		{"ioc_dashboard", "%FROM ioc_security.users%", "the dashboard reads the accounts"},
		{"ioc_ingest", "INSERT INTO ioc_security.audit_log%", "ingest audits the refused post"},
	} {
		testpoll.Eventually(t, 30*time.Second, c.what+" as "+c.user, func() (bool, string) {
			_ = conn.Exec(ctx, "SYSTEM FLUSH LOGS")
			var n uint64
			err := conn.QueryRow(ctx, "SELECT count() FROM system.query_log WHERE user = ? AND query LIKE ? AND exception = ''", c.user, c.like).Scan(&n)
			return err == nil && n > 0, fmt.Sprint(n, err)
		})
	}
	stop()
	// Nothing the roles' accounts asked since this run began was refused,
	// and the schema is complete (migrated as the administrative account
	// before the roles). A query the role itself gave up is no refusal: the
	// SIGTERM above cancels what is in flight, and the server logs code 210
	// (the client closed the connection while it wrote: "Connection reset
	// by peer" or "Broken pipe, while writing to socket") or 394 (the query
	// was cancelled). CI met one, and 1 run in 25 here: stream's INSERT of
	// a registry record, cut while it stored the CSV seed one device at a
	// time; the next start stores it again (registry_live.go). The format
	// is "Code: 210, e.displayText()" on 18.16, "Code: 210. DB::…" now.
	_ = conn.Exec(ctx, "SYSTEM FLUSH LOGS")
	var failed, gaveUp uint64
	var sample string
	err = conn.QueryRow(ctx, `SELECT countIf(NOT gone), anyIf(exception, NOT gone), countIf(gone)
		FROM (SELECT exception, match(exception, '^Code: (210|394)[.,]') AS gone FROM system.query_log
		      WHERE event_time >= ? AND user IN ('ioc_pipeline', 'ioc_dashboard', 'ioc_ingest') AND exception != '')`,
		since).Scan(&failed, &sample, &gaveUp)
	if err != nil || failed > 0 {
		t.Errorf("%d queries of the roles' accounts failed (%v), e.g. %s\n%s", failed, err, sample, out.String())
	}
	t.Logf("%d queries of the roles were cancelled by their own side at shutdown", gaveUp)
	var engine string
	if err := conn.QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = 'ioc_security' AND name = 'audit_log'").Scan(&engine); err != nil || engine != "MergeTree" {
		t.Errorf("audit log engine %q (%v) after ioc run's migration", engine, err)
	}
}
