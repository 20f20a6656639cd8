// Command ioc is the Son La operations-centre pipeline: one binary whose
// subcommands run each role, all roles at once, the simulator, the schema
// migration and a configuration check.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/notify"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream"
	"github.com/sonla-ioc/ioc/stream/schema"
)

const usage = `ioc — Son La City operations-centre pipeline

Usage: ioc <command> [-config file.yaml] [flags]

Roles:
  ingest        MQTT sensors → Kafka (acknowledges MQTT after Kafka)
  stream        Kafka → ClickHouse (commits offsets after the insert)
  dashboard     live wall at http://localhost:8080 (websocket /ws)
  notify        alert notifications: webhook, e-mail, Telegram, Zalo OA (docs/notifications.md)
  run           all roles in one process (the notifier too: it sends nothing without notify.channels); -simulate adds the simulator, which first backfills
                the last hours of readings (-backfill 8h; 0 = none) and plays the administrative
                scenario h1-2021 for the KPI page (-scenario off = none)
Tools:
  simulate      publish simulated sensor readings over MQTT; -scenario h1-2021 publishes the
                administrative events of H1 2021 to Kafka (-speed 86400: a day a second; -via-http URL)
  kpis          compute the leadership's KPI tiles with the documented SQL and print them (-as-of TIME)
  report        the leadership's report of every KPI tile for a period:
                -period 2021-H1|2021-Q2|2021-06|2021 -lang vi|en -format pdf|csv|xlsx [-out file]
  migrate       create or upgrade the ClickHouse schema, then exit
  retention     apply the retention of raw rows (TTL, or dropping old monthly partitions on old servers); -dry-run
  rollup        compute the hourly and daily rollups once (stream does it every stream.rollup.interval);
                -recompute 48h first computes the last 48 hours again
  dedup         merge the partitions of sensor_readings_raw inserted into since the last run (every 10 min;
                keeps the analyst view fast, docs/clickhouse.md); -dry-run
  check-config  validate a configuration file and print it with defaults
  healthcheck   GET -url (default http://127.0.0.1:9100/readyz); exit 0 on 2xx (container probes)
  user, kiosk   dashboard accounts and wall kiosk tokens (ioc user help; docs/security.md)
  device        the live device registry: list, add, edit, retire, import (ioc device help)
  deadletter    list dead letters by reason; replay chosen ones after a fix (ioc deadletter help)
  doctor        check the configuration and reach MQTT, Kafka, ClickHouse and the wall; say what to fix

Environment overrides: IOC_CONFIG, IOC_MQTT_URL, IOC_MQTT_CLIENT_ID, IOC_MQTT_USERNAME, IOC_MQTT_PASSWORD,
IOC_KAFKA_BROKERS, IOC_KAFKA_TOPIC_PREFIX, IOC_CLICKHOUSE_ADDR, IOC_CLICKHOUSE_CLUSTER,
IOC_CLICKHOUSE_DATABASE, IOC_CLICKHOUSE_USER, IOC_CLICKHOUSE_PASSWORD, IOC_CLICKHOUSE_PASSWORD_FILE,
IOC_CLICKHOUSE_{STREAM,DASHBOARD,INGEST,NOTIFY}_{USER,PASSWORD,PASSWORD_FILE} (each role's own account),
IOC_DASHBOARD_LISTEN, IOC_OPS_LISTEN, IOC_LOG_LEVEL, IOC_INGEST_HTTP_LISTEN, IOC_INGEST_HTTP_TOKENS,
IOC_INGEST_TOKEN (simulate -via-http).
IOC_PPROF=1 adds Go's profiler at /debug/pprof/ on the ops endpoint.
`

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Print(usage)
		return
	}
	if os.Args[1] == "healthcheck" {
		if err := healthcheck(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "ioc healthcheck:", err)
			os.Exit(1)
		}
		return
	}
	if os.Args[1] == "doctor" {
		os.Exit(doctor(os.Args[2:], os.Stdout))
	}
	if os.Args[1] == "user" || os.Args[1] == "kiosk" {
		os.Exit(accessCommand(os.Args[1], os.Args[2:], os.Stdin, os.Stdout))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Args[1] == "device" {
		if err := deviceCommand(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ioc device:", err)
			os.Exit(1)
		}
		return
	}
	if os.Args[1] == "deadletter" {
		if err := deadLetterCommand(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ioc deadletter:", err)
			os.Exit(1)
		}
		return
	}
	if os.Args[1] == "report" {
		if err := reportCommand(ctx, os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ioc report:", err)
			os.Exit(1)
		}
		return
	}
	if err := runCommand(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "ioc "+os.Args[1]+":", err)
		os.Exit(1)
	}
}

// role is a long-running component.
type role interface {
	Run(ctx context.Context) error
	Ready() bool
}

func runCommand(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	configPath := fs.String("config", os.Getenv("IOC_CONFIG"), "configuration file (YAML)")
	withSim := fs.Bool("simulate", false, "run: also run the simulator")
	devices := fs.Int("devices", -1, "simulate: number of devices (overrides simulate.devices)")
	interval := fs.Duration("interval", 0, "simulate: reporting interval per device (overrides simulate.interval)")
	scenario := fs.String("scenario", "", "simulate: publish a scenario of administrative events (h1-2021); run -simulate: the scenario it plays (default h1-2021; off = none)")
	backfill := fs.Duration("backfill", -1, "simulate, run -simulate: first publish this much past readings with their own times (run -simulate: 8h unless simulate.backfill is set; 0 = none)")
	speed := fs.Float64("speed", 0, "simulate -scenario: accelerated real time (86400 = a day a second; 0 = as fast as possible)")
	shuffle := fs.Bool("shuffle", false, "simulate -scenario: publish in random order")
	viaHTTP := fs.String("via-http", "", "simulate -scenario: post to the ingest HTTP endpoint at this URL instead of Kafka")
	asOf := fs.String("as-of", "", "kpis: compute as of this time (RFC 3339; default: the newest event)")
	dryRun := fs.Bool("dry-run", false, "retention, dedup: print what would be done, change nothing")
	recompute := fs.Duration("recompute", 0, "rollup: first compute again the rolled-up hours of this last span (e.g. 48h, after a shard outage)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *devices >= 0 {
		cfg.Simulate.Devices = *devices
	}
	if *interval > 0 {
		cfg.Simulate.Interval = *interval
	}
	if *backfill >= 0 {
		cfg.Simulate.Backfill = *backfill
	} else if cmd == "run" && *withSim && cfg.Simulate.Backfill == 0 {
		cfg.Simulate.Backfill = defaultRunBackfill
	}
	if err := checkBackfill(cfg); err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var roles []role
	opsDefault := ""
	switch cmd {
	case "check-config":
		out, _ := yamlString(cfg)
		fmt.Print(out)
		fmt.Fprintln(os.Stderr, "configuration is valid")
		return nil
	case "migrate":
		conn, err := cfg.ClickHouse.Open(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := schema.Migrate(ctx, conn, cfg.ClickHouse, log); err != nil {
			return err
		}
		_, err = stream.LoadRegistry(ctx, conn, cfg.ClickHouse, cfg.Stream.RegistryFile, log)
		return err
	case "retention":
		return runRetention(ctx, cfg, log, *dryRun)
	case "rollup":
		return runRollup(ctx, cfg, log, *recompute)
	case "dedup":
		return runDedup(ctx, cfg, log, *dryRun)
	case "simulate":
		if *scenario != "" {
			return runScenario(ctx, cfg, *scenario, *speed, *shuffle, *viaHTTP, log)
		}
		return simulate.Run(ctx, cfg.Simulate, log)
	case "kpis":
		return runKPIs(ctx, cfg, *asOf, log)
	case "ingest":
		opsDefault = ":9101"
		r, err := ingest.New(cfg.Ingest, cfg.Kafka, log, reg)
		if err != nil {
			return err
		}
		roles = append(roles, r)
	case "stream":
		opsDefault = ":9102"
		if err := migrateAsAdmin(ctx, cfg, log); err != nil {
			return err
		}
		r, err := stream.New(cfg.Stream, cfg.Kafka, cfg.ClickHouse.For(chconn.RoleStream), log, reg)
		if err != nil {
			return err
		}
		roles = append(roles, r)
	case "dashboard":
		opsDefault = ":9103"
		r, err := dashboard.New(cfg.Dashboard, cfg.Kafka, cfg.ClickHouse.For(chconn.RoleDashboard), log, reg)
		if err != nil {
			return err
		}
		roles = append(roles, r)
	case "run":
		opsDefault = ":9100"
		if err := migrateAsAdmin(ctx, cfg, log); err != nil {
			return err
		}
		st, err := stream.New(cfg.Stream, cfg.Kafka, cfg.ClickHouse.For(chconn.RoleStream), log, reg)
		if err != nil {
			return err
		}
		in, err := ingest.New(cfg.Ingest, cfg.Kafka, log, reg)
		if err != nil {
			return err
		}
		da, err := dashboard.New(cfg.Dashboard, cfg.Kafka, cfg.ClickHouse.For(chconn.RoleDashboard), log, reg)
		if err != nil {
			return err
		}
		roles = append(roles, st, in, da)
		if cfg.Notify.On() {
			nt, err := notify.New(cfg.Notify, cfg.Kafka, cfg.ClickHouse.ForNotify(), log, reg)
			if err != nil {
				return err
			}
			roles = append(roles, nt)
		}
	case "notify":
		opsDefault = ":9104"
		// Its own account (clickhouse.accounts.notify), else the stream's
		// (docs/notifications.md).
		nt, err := notify.New(cfg.Notify, cfg.Kafka, cfg.ClickHouse.ForNotify(), log, reg)
		if err != nil {
			return err
		}
		roles = append(roles, nt)
	default:
		return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
	warnSharedAccount(cmd, cfg, log)
	extra, err := feedRoles(cmd, cfg, log, reg)
	if err != nil {
		return err
	}
	roles = append(roles, extra...)
	sched, err := reportRoles(cmd, cfg, log)
	if err != nil {
		return err
	}
	roles = append(roles, sched...)
	opsAddr := cfg.Ops.Listen
	if opsAddr == "" {
		opsAddr = opsDefault
	}
	var intake []func(context.Context) error
	if cmd == "run" && *withSim {
		// The readings wait until the pipeline is ready, so that stream's
		// monitor computes its hourly VN_AQI from the backfill; the
		// administrative scenario goes to Kafka at once (the feeds read
		// their topics from the start).
		intake = append(intake, func(ctx context.Context) error {
			waitReady(ctx, log, roles, 2*time.Minute)
			return simulate.Run(ctx, cfg.Simulate, log)
		})
		if name := runScenarioName(*scenario, cfg); name != "" {
			intake = append(intake, func(ctx context.Context) error {
				return runScenario(ctx, cfg, name, 0, false, "", log)
			})
		}
	}
	return runRoles(ctx, log, reg, cfg.Ops, opsAddr, roles, intake)
}

// migrateAsAdmin applies the schema with the administrative account when
// stream has an account of its own (which may not create tables), and then
// leaves stream's own migration off; without one, stream migrates at start
// as before (stream.migrate).
func migrateAsAdmin(ctx context.Context, cfg *Config, log *slog.Logger) error {
	if !*cfg.Stream.Migrate || !cfg.ClickHouse.HasAccount(chconn.RoleStream) {
		return nil
	}
	var conn driver.Conn
	if err := backoff.Retry(ctx, log, "connecting to clickhouse as "+cfg.ClickHouse.Username+" (migrations)", func() (err error) {
		conn, err = cfg.ClickHouse.Open(ctx)
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	if err := schema.Migrate(ctx, conn, cfg.ClickHouse, log); err != nil {
		return fmt.Errorf("migrating clickhouse schema as %s: %w", cfg.ClickHouse.Username, err)
	}
	off := false
	cfg.Stream.Migrate = &off
	return nil
}

// defaultRunBackfill is how much past `ioc run -simulate` publishes first:
// the 6 hours of the wall's trend charts, plus the two hours the hourly
// VN_AQI (NowCast: two of the last three hours) needs before its first value.
const defaultRunBackfill = 8 * time.Hour

// checkBackfill refuses a backfill that ingest would dead-letter as too old.
func checkBackfill(cfg *Config) error {
	if b := cfg.Simulate.Backfill; b > 0 && b+time.Minute >= cfg.Ingest.MaxPast {
		return fmt.Errorf("simulate backfill %s reaches beyond ingest.max_past (%s): its readings would be dead letters (bad_time); use a shorter -backfill",
			b, cfg.Ingest.MaxPast)
	}
	return nil
}

// runScenarioName is the administrative scenario `ioc run -simulate` plays
// so that the KPI page has its figures: h1-2021 unless -scenario says
// otherwise, none with -scenario off or when the feeds are disabled.
func runScenarioName(flagValue string, cfg *Config) string {
	switch flagValue {
	case "off", "none", "false", "0":
		return ""
	case "":
		if !cfg.Feeds.On() {
			return ""
		}
		return "h1-2021"
	}
	return flagValue
}

// warnSharedAccount logs each ClickHouse-using role of cmd that runs as the
// administrative account (no clickhouse.accounts entry): it then has every
// right, DDL included (docs/security.md, "ClickHouse accounts").
func warnSharedAccount(cmd string, cfg *Config, log *slog.Logger) {
	uses := map[string][]string{"stream": {chconn.RoleStream}, "dashboard": {chconn.RoleDashboard},
		"run": {chconn.RoleStream, chconn.RoleDashboard}}[cmd]
	if (cmd == "ingest" || cmd == "run") && cfg.Ingest.HTTP.Listen != "" {
		uses = append(uses, chconn.RoleIngest)
	}
	for _, role := range uses {
		if !cfg.ClickHouse.HasAccount(role) {
			log.Warn("clickhouse: the role runs as the administrative account; give it its own (clickhouse.accounts."+role+", docs/security.md)",
				"role", role, "user", cfg.ClickHouse.Username)
		}
	}
}

// runRoles runs the roles under one errgroup with the ops endpoint; the
// first role to fail stops the others, and a signal stops all gracefully.
func runRoles(ctx context.Context, log *slog.Logger, reg *prometheus.Registry, oc OpsConfig, opsAddr string, roles []role, intake []func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	ops := opsServer(oc, opsAddr, opsHandler(reg, roles))
	g.Go(func() error {
		if err := ops.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("ops endpoint on %s: %w (set ops.listen or IOC_OPS_LISTEN)", opsAddr, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return ops.Shutdown(sctx)
	})
	// On shutdown every role and the simulator see gctx end at once; there
	// is no stop order between them. Nothing is lost: ingest acknowledges
	// an MQTT message only after Kafka took it, stream commits an offset
	// only after ClickHouse took the batch, so what a role had in flight is
	// delivered again at the next start.
	for _, r := range roles {
		g.Go(func() error { return r.Run(gctx) })
	}
	// The simulator and the scenario (run -simulate): a failure is logged,
	// the pipeline keeps running.
	for _, run := range intake {
		g.Go(func() error {
			if err := run(gctx); err != nil && gctx.Err() == nil {
				log.Error("simulator stopped", "err", err)
			}
			return nil
		})
	}
	log.Info("ioc started", "ops", "http://"+strings.Replace(opsAddr, ":", "localhost:", 1)+"/metrics")
	return g.Wait()
}

// opsServer is the ops endpoint's HTTP server: a slow or idle client is
// cut (ops.read_timeout, ops.idle_timeout). No write timeout, so that
// /debug/pprof/profile can take its 30 s.
func opsServer(c OpsConfig, addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: min(5*time.Second, c.ReadTimeout), ReadTimeout: c.ReadTimeout,
		IdleTimeout: c.IdleTimeout, MaxHeaderBytes: 16 << 10}
}

// waitReady polls until every role is ready (and stream's monitor follows
// the readings), or the time is up: then it logs which role is not and
// returns anyway.
func waitReady(ctx context.Context, log *slog.Logger, roles []role, within time.Duration) {
	type monitored interface{ MonitorReady() bool }
	notReady := func() string {
		for _, r := range roles {
			if !r.Ready() {
				return fmt.Sprintf("%T", r)
			}
			if m, ok := r.(monitored); ok && !m.MonitorReady() {
				return fmt.Sprintf("%T's monitor", r)
			}
		}
		return ""
	}
	deadline := time.Now().Add(within)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		who := notReady()
		if who == "" {
			return
		}
		if time.Now().After(deadline) {
			log.Warn("the simulator starts although the pipeline is not ready", "waiting_for", who, "waited", within)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func opsHandler(reg *prometheus.Registry, roles []role) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		for _, r := range roles {
			if !r.Ready() {
				http.Error(w, fmt.Sprintf("%T not ready", r), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	if os.Getenv("IOC_PPROF") == "1" {
		// Profiling on demand (docs/performance.md); off by default, since
		// the ops port is not meant to expose more than metrics and health.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func newLogger(c LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// healthcheck probes a role's ops endpoint; images without a shell use it
// for their container health checks.
func healthcheck(args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:9100/readyz", "URL to GET")
	timeout := fs.Duration("timeout", 3*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		return fmt.Errorf("GET %s: %w", *url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", *url, resp.Status)
	}
	return nil
}
