package main

// ioc doctor: checks the configuration and that every service the pipeline
// needs answers, and says what to do about each failure.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/notify"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// doctorCheck is the outcome of one check.
type doctorCheck struct {
	name      string
	ok        bool
	detail    string
	solutions []string // what the operator can do, when not ok
}

// doctor runs every check, prints one line per check (with possible
// solutions under a failure) and returns the process exit code.
func doctor(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(out)
	configPath := fs.String("config", os.Getenv("IOC_CONFIG"), "configuration file (YAML)")
	dashboardURL := fs.String("dashboard", "", "URL of the wall to check (default: http://127.0.0.1:<port of dashboard.listen>/)")
	skip := fs.String("skip", "", "comma-separated checks to leave out: mqtt, kafka, clickhouse, dashboard, notify")
	timeout := fs.Duration("timeout", 5*time.Second, "time each check may take")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.Contains([]string{"mqtt", "kafka", "clickhouse", "dashboard", "notify"}, s) {
				fmt.Fprintf(out, "ioc doctor: -skip %q: not a check (mqtt, kafka, clickhouse, dashboard, notify)\n", s)
				return 2
			}
			skipped[s] = true
		}
	}
	where := *configPath
	if where == "" {
		where = "(none: defaults and IOC_* variables)"
	}
	fmt.Fprintf(out, "ioc doctor — configuration %s\n", where)

	cfg, err := loadConfig(*configPath)
	if err != nil {
		report(out, doctorCheck{name: "config", detail: err.Error(), solutions: []string{
			"fix the key named above; `ioc check-config -config FILE` validates a file and prints the effective values",
			"unknown keys are errors: compare with deploy/ioc.yaml and the configuration table in README.md",
		}})
		fmt.Fprintln(out, "1 check failed (the others need a valid configuration)")
		return 1
	}
	checks := []doctorCheck{{name: "config", ok: true, detail: fmt.Sprintf("valid: mqtt %s, kafka %s, clickhouse %s database %s",
		cfg.Ingest.MQTT.URL, strings.Join(cfg.Kafka.Brokers, ","), strings.Join(cfg.ClickHouse.Addr, ","), cfg.ClickHouse.Database)}}
	report(out, checks[0])

	ctx := context.Background()
	run := func(name string, f func(context.Context) doctorCheck) {
		if skipped[name] {
			fmt.Fprintf(out, "  SKIP  %-10s -skip %s\n", name, name)
			return
		}
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		c := f(cctx)
		c.name = name
		report(out, c)
		checks = append(checks, c)
	}
	run("mqtt", func(ctx context.Context) doctorCheck { return checkMQTT(ctx, cfg, *timeout) })
	run("kafka", func(ctx context.Context) doctorCheck { return checkKafka(ctx, cfg) })
	run("clickhouse", func(ctx context.Context) doctorCheck { return checkClickHouse(ctx, cfg) })
	run("dashboard", func(ctx context.Context) doctorCheck { return checkDashboard(ctx, cfg, *dashboardURL) })
	run("notify", func(ctx context.Context) doctorCheck { return checkNotify(ctx, cfg) })

	failed := 0
	for _, c := range checks {
		if !c.ok {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(out, "%d of %d checks failed\n", failed, len(checks))
		return 1
	}
	fmt.Fprintf(out, "all %d checks passed\n", len(checks))
	return 0
}

func report(out io.Writer, c doctorCheck) {
	status := "OK"
	if !c.ok {
		status = "FAIL"
	}
	fmt.Fprintf(out, "  %-4s  %-10s %s\n", status, c.name, c.detail)
	if !c.ok && len(c.solutions) > 0 {
		fmt.Fprintln(out, "        Possible solutions:")
		for _, s := range c.solutions {
			fmt.Fprintf(out, "          - %s\n", s)
		}
	}
}

// Where the operator looks for a service, on each kind of installation.
func serviceHint(svc string) string {
	return fmt.Sprintf("is %s running? one machine: deploy/local/services.sh status; Docker: docker compose ps %s; Kubernetes: kubectl get pods (and its Service)", svc, svc)
}

func fail(detail string, solutions ...string) doctorCheck {
	return doctorCheck{detail: detail, solutions: solutions}
}

func checkMQTT(ctx context.Context, cfg *Config, timeout time.Duration) doctorCheck {
	host, _ := os.Hostname()
	o := mqtt.NewClientOptions().AddBroker(cfg.Ingest.MQTT.URL).
		SetClientID(fmt.Sprintf("ioc-doctor-%s-%d", host, os.Getpid())).
		SetUsername(cfg.Ingest.MQTT.Username).SetPassword(cfg.Ingest.MQTT.Password).
		SetCleanSession(true).SetConnectTimeout(timeout).SetConnectRetry(false).SetAutoReconnect(false)
	start := time.Now()
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(timeout) {
		return fail(fmt.Sprintf("no answer from %s within %s", cfg.Ingest.MQTT.URL, timeout),
			serviceHint("mosquitto"), "check ingest.mqtt.url / IOC_MQTT_URL and that a firewall lets this host reach the port")
	}
	if err := tok.Error(); err != nil {
		sol := []string{serviceHint("mosquitto"), fmt.Sprintf("check ingest.mqtt.url / IOC_MQTT_URL (now %s): host, port (1883, or 8883 with ssl://)", cfg.Ingest.MQTT.URL)}
		if strings.Contains(strings.ToLower(err.Error()), "not authori") || strings.Contains(err.Error(), "bad user name or password") {
			sol = []string{"the broker refused the credentials: set ingest.mqtt.username and IOC_MQTT_PASSWORD to an account of the broker's password_file"}
		}
		return fail(fmt.Sprintf("connecting to %s: %v", cfg.Ingest.MQTT.URL, err), sol...)
	}
	c.Disconnect(100)
	return doctorCheck{ok: true, detail: fmt.Sprintf("connected to %s in %s", cfg.Ingest.MQTT.URL, time.Since(start).Round(time.Millisecond))}
}

func checkKafka(ctx context.Context, cfg *Config) doctorCheck {
	client, release := cfg.Kafka.NewClient(5 * time.Second)
	defer release()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fail(fmt.Sprintf("metadata from %s: %v", strings.Join(cfg.Kafka.Brokers, ","), err),
			serviceHint("kafka"),
			fmt.Sprintf("check kafka.brokers / IOC_KAFKA_BROKERS (now %s): the broker's PLAINTEXT listener, usually port 9092", strings.Join(cfg.Kafka.Brokers, ",")),
			"the broker answers with its advertised.listeners: they must be reachable from this host")
	}
	parts := map[string]int{}
	for _, t := range md.Topics {
		if t.Error == nil {
			parts[t.Name] = len(t.Partitions)
		}
	}
	var missing, found []string
	for _, name := range []string{event.TopicReadings, event.TopicDeadLetter} {
		full := cfg.Kafka.Topic(name)
		if n, ok := parts[full]; ok {
			found = append(found, fmt.Sprintf("%s (%d partitions)", full, n))
		} else {
			missing = append(missing, full)
		}
	}
	if len(missing) > 0 {
		return fail(fmt.Sprintf("brokers: %d; topics %s do not exist", len(md.Brokers), strings.Join(missing, ", ")),
			"start `ioc ingest` or `ioc stream` once: each creates the topics at start (kafka.partitions, kafka.replication_factor)",
			"check kafka.topic_prefix / IOC_KAFKA_TOPIC_PREFIX (now "+fmt.Sprintf("%q", cfg.Kafka.TopicPrefix)+"): doctor must use the roles' configuration")
	}
	return doctorCheck{ok: true, detail: fmt.Sprintf("brokers: %d; topics %s", len(md.Brokers), strings.Join(found, ", "))}
}

var createdRE = regexp.MustCompile(`^CREATE (?:TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS (\w+)\.(\w+)`)

func checkClickHouse(ctx context.Context, cfg *Config) doctorCheck {
	ch := cfg.ClickHouse
	addr := strings.Join(ch.Addr, ",")
	conn, err := ch.Open(ctx)
	if err != nil {
		sol := []string{serviceHint("clickhouse"),
			fmt.Sprintf("check clickhouse.addr / IOC_CLICKHOUSE_ADDR (now %s): the native protocol port, usually 9000 (not the HTTP port 8123)", addr)}
		if strings.Contains(err.Error(), "Authentication failed") || strings.Contains(err.Error(), "password") {
			sol = []string{fmt.Sprintf("ClickHouse refused user %q: set clickhouse.username and IOC_CLICKHOUSE_PASSWORD (or clickhouse.password_file)", ch.Username)}
		}
		return fail(err.Error(), sol...)
	}
	defer conn.Close()
	server, err := schema.ServerVersion(conn)
	if err != nil {
		return fail(err.Error(), serviceHint("clickhouse"))
	}
	migs, err := schema.Render(ch, server)
	if err != nil {
		return fail("rendering the schema: "+err.Error(), "this binary's schema files are broken: report it")
	}
	// Migrations this server should have, and the tables they create.
	want := map[int]string{}
	var tables []string
	for _, m := range migs {
		if !server.AtLeast(m.MinServer.Major, m.MinServer.Minor) {
			continue
		}
		want[m.Version] = m.Name
		for _, st := range m.Statements {
			if t := createdRE.FindStringSubmatch(st); t != nil && t[1] == ch.Database {
				tables = append(tables, t[2])
			}
		}
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM "+ch.Database+".schema_migrations")
	if err != nil {
		return fail(fmt.Sprintf("ClickHouse %s answers, but %s.schema_migrations cannot be read: %v", server, ch.Database, err),
			"run `ioc migrate -config FILE` (Docker: docker compose run --rm migrate; Kubernetes: the ioc-migrate Job)",
			fmt.Sprintf("check clickhouse.database / IOC_CLICKHOUSE_DATABASE (now %s)", ch.Database))
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err == nil {
			applied[int(v)] = true
		}
	}
	rows.Close()
	var pending []string
	for v, name := range want {
		if !applied[v] {
			pending = append(pending, name)
		}
	}
	slices.Sort(pending)
	if len(pending) > 0 {
		return fail(fmt.Sprintf("ClickHouse %s: schema migrations not applied: %s", server, strings.Join(pending, ", ")),
			"run `ioc migrate -config FILE` (Docker: docker compose run --rm migrate; Kubernetes: re-run the ioc-migrate Job); `ioc stream` also migrates at start unless stream.migrate is false")
	}
	present := map[string]bool{}
	trows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ?", ch.Database)
	if err != nil {
		return fail("listing tables: "+err.Error(), serviceHint("clickhouse"))
	}
	for trows.Next() {
		var n string
		if err := trows.Scan(&n); err == nil {
			present[n] = true
		}
	}
	trows.Close()
	var absent []string
	for _, t := range tables {
		if !present[t] {
			absent = append(absent, ch.Database+"."+t)
		}
	}
	if len(absent) > 0 {
		return fail(fmt.Sprintf("ClickHouse %s: migrations recorded, but %s missing", server, strings.Join(absent, ", ")),
			"someone dropped them: restore from a backup (docs/operations.md, Backups), or delete their migration's row from schema_migrations and run `ioc migrate`")
	}
	detail := fmt.Sprintf("ClickHouse %s at %s; %d migrations applied; %d tables and views in %s", server, addr, len(want), len(tables), ch.Database)
	if ch.Cluster != "" {
		var shards uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", ch.Cluster).Scan(&shards); err != nil || shards == 0 {
			return fail(fmt.Sprintf("clickhouse.cluster is %q, but this server has no such cluster in remote_servers", ch.Cluster),
				"add the cluster to remote_servers on every node (docs/clickhouse.md, Cluster mode), or fix clickhouse.cluster")
		}
		var macros uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.macros WHERE macro IN ('shard', 'replica')").Scan(&macros); err != nil || macros != 2 {
			return fail("cluster mode needs the macros {shard} and {replica} on every node",
				"set <macros><shard>…</shard><replica>…</replica></macros> in each node's configuration (docs/clickhouse.md)")
		}
		detail += fmt.Sprintf("; cluster %s: %d replicas", ch.Cluster, shards)
	}
	return doctorCheck{ok: true, detail: detail}
}

func checkDashboard(ctx context.Context, cfg *Config, target string) doctorCheck {
	if target == "" {
		host, port, err := net.SplitHostPort(cfg.Dashboard.Listen)
		if err != nil {
			return fail(err.Error(), "fix dashboard.listen")
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fail(err.Error(), "pass -dashboard http://host:port/")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var op *net.OpError
		sol := []string{
			"is `ioc dashboard` (or `ioc run`) running? Docker: docker compose ps dashboard; Kubernetes: kubectl get pods -l app.kubernetes.io/name=ioc-dashboard",
			fmt.Sprintf("the wall listens on dashboard.listen / IOC_DASHBOARD_LISTEN (now %s); on another host, pass -dashboard http://host:port/", cfg.Dashboard.Listen),
			"leave this check out where no wall runs: -skip dashboard",
		}
		if errors.As(err, &op) {
			return fail(fmt.Sprintf("GET %s: %v", target, op.Err), sol...)
		}
		return fail(fmt.Sprintf("GET %s: %v", target, err), sol...)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized { // closed by default: sign-in or kiosk token (docs/security.md)
		return doctorCheck{ok: true, detail: "the wall answers at " + target + " (access control on: sign-in or kiosk token required)"}
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Sprintf("GET %s: %s", target, resp.Status),
			"something else answers on that port, or the wall is failing: read the dashboard's log")
	}
	return doctorCheck{ok: true, detail: "the wall answers at " + target}
}

// checkNotify reaches every enabled notification channel without sending
// anything (docs/notifications.md).
func checkNotify(ctx context.Context, cfg *Config) doctorCheck {
	if !cfg.Notify.On() {
		return doctorCheck{ok: true, detail: "the notifier is disabled (notify.enabled: false)"}
	}
	nt, err := notify.New(cfg.Notify, cfg.Kafka, cfg.ClickHouse.ForNotify(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return fail(err.Error(), "create the secret file named above (readable by the ioc user), or set the environment variable named",
			"docs/notifications.md lists each channel's settings")
	}
	chans := nt.Channels()
	if len(chans) == 0 {
		return doctorCheck{ok: true, detail: "no channel enabled: alerts reach the wall only (notify.channels, docs/notifications.md)"}
	}
	res := nt.Probe(ctx)
	var bad []string
	for _, name := range chans {
		if err := res[name]; err != nil {
			bad = append(bad, name+": "+err.Error())
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "),
			"an SMTP server refusing the login: check smtp.username and smtp.password_file; a certificate error: smtp.ca_file / server_name",
			"a webhook host not reachable: check the channel's url and that a firewall lets this host reach it",
			"leave a channel in the file but off with enabled: false")
	}
	return doctorCheck{ok: true, detail: fmt.Sprintf("%d channels reachable: %s (nothing sent)", len(chans), strings.Join(chans, ", "))}
}
