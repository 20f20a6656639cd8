// Package dashboard serves the control-room wall: the embedded web assets
// at / and a websocket at /ws that streams live readings. It follows the
// readings topic from its end (no consumer group: every dashboard instance
// sees every reading) and seeds its state from ClickHouse at start.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

//go:embed web
var webFS embed.FS

// Config is the dashboard role's configuration.
type Config struct {
	Listen string `yaml:"listen"`
	// FlushInterval is how often changes are pushed to clients.
	FlushInterval time.Duration `yaml:"flush_interval"`
	WriteTimeout  time.Duration `yaml:"write_timeout"`
	MaxClients    int           `yaml:"max_clients"`
	// MaxKeys bounds the (device, metric) pairs held in memory.
	MaxKeys int `yaml:"max_keys"`
	// AllowedOrigins lists the Origins allowed to open /ws besides the
	// dashboard's own host.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Replay is how many records per partition before the end the wall
	// re-reads at start, to cover readings not yet in ClickHouse.
	Replay int `yaml:"replay"`
	// SeedWindow is how far back the start-up state is read from ClickHouse.
	SeedWindow time.Duration `yaml:"seed_window"`
	// FetchMinBytes and FetchMaxWait shape the wall's fetches of the
	// readings topic: a fetch returns once a partition has FetchMinBytes or
	// FetchMaxWait has passed (the broker's wait; the client allows a
	// second more). Larger fetches cost Kafka fewer requests and the wall
	// up to FetchMaxWait of latency.
	FetchMinBytes int           `yaml:"fetch_min_bytes"`
	FetchMaxWait  time.Duration `yaml:"fetch_max_wait"`
	// StreamGroup is the stream role's consumer group: the wall's pipeline
	// indicator shows its lag, read from the brokers (default
	// stream.group_id, "ioc-stream").
	StreamGroup string `yaml:"stream_group"`
	// Auth is who may see and change what (docs/security.md); closed by default.
	Auth auth.Config `yaml:"auth"`
	// HTTP timeouts of the dashboard's server: the request header must
	// arrive within HTTPReadHeaderTimeout (default 10s) and the whole
	// request within HTTPReadTimeout (30s); a kept-alive connection idle
	// for HTTPIdleTimeout (2m) is closed. Websockets are not cut by them:
	// the upgrade clears the deadlines, and the websocket's own heartbeat
	// and write timeout take over.
	HTTPReadHeaderTimeout time.Duration `yaml:"http_read_header_timeout"`
	HTTPReadTimeout       time.Duration `yaml:"http_read_timeout"`
	HTTPIdleTimeout       time.Duration `yaml:"http_idle_timeout"`
	// TLSCertFile and TLSKeyFile serve the dashboard over HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Wall is the wall's model and websocket protocol v2 (docs/websocket.md).
	Wall WallConfig `yaml:"wall"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 10 * time.Millisecond // with fetch_max_wait, the wall's batching: docs/performance.md
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxClients == 0 {
		c.MaxClients = 20000
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = 500000
	}
	if c.Replay == 0 {
		c.Replay = 2000
	}
	if c.SeedWindow == 0 {
		c.SeedWindow = 24 * time.Hour
	}
	if c.FetchMinBytes == 0 {
		c.FetchMinBytes = 16 << 10
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = 15 * time.Millisecond
	}
	if c.StreamGroup == "" {
		c.StreamGroup = "ioc-stream"
	}
	if c.HTTPReadHeaderTimeout == 0 {
		c.HTTPReadHeaderTimeout = 10 * time.Second
	}
	if c.HTTPReadTimeout == 0 {
		c.HTTPReadTimeout = 30 * time.Second
	}
	if c.HTTPIdleTimeout == 0 {
		c.HTTPIdleTimeout = 2 * time.Minute
	}
	c.Auth.Defaults()
	c.Wall.Defaults()
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("dashboard.listen: %q is not [host]:port: %w", c.Listen, err)
	}
	switch {
	case c.FlushInterval < 10*time.Millisecond:
		return fmt.Errorf("dashboard.flush_interval: %s is below 10ms", c.FlushInterval)
	case c.FetchMinBytes < 1 || c.FetchMinBytes > 4<<20:
		return fmt.Errorf("dashboard.fetch_min_bytes: %d is outside 1..4194304", c.FetchMinBytes)
	case c.FetchMaxWait < 10*time.Millisecond:
		return fmt.Errorf("dashboard.fetch_max_wait: %s is below 10ms", c.FetchMaxWait)
	case c.HTTPReadHeaderTimeout < time.Second || c.HTTPReadTimeout < c.HTTPReadHeaderTimeout || c.HTTPIdleTimeout < time.Second:
		return fmt.Errorf("dashboard.http_read_header_timeout (%s) must be at least 1s, http_read_timeout (%s) at least that, "+
			"and http_idle_timeout (%s) at least 1s", c.HTTPReadHeaderTimeout, c.HTTPReadTimeout, c.HTTPIdleTimeout)
	case c.MaxClients < 1 || c.MaxKeys < 1:
		return errors.New("dashboard.max_clients and dashboard.max_keys must be positive")
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("dashboard.allowed_origins: %q must look like https://wall.example", o)
		}
	}
	if c.Auth.DevOpen && !loopback(c.Listen) {
		return fmt.Errorf("dashboard.auth.dev_open: refused with dashboard.listen %q: anonymous access is for a developer's own machine, "+
			"so the dashboard must listen on a loopback address only (127.0.0.1:8080, [::1]:8080 or localhost:8080). "+
			"On a server remove dev_open and create accounts (ioc user add) or kiosk tokens (ioc kiosk create)", c.Listen)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("dashboard.tls_cert_file and dashboard.tls_key_file go together")
	}
	if err := c.Wall.Validate(); err != nil {
		return err
	}
	return c.Auth.Validate()
}

// loopback reports whether a listen address ([host]:port) accepts only
// connections from this machine: "localhost" or a loopback IP. An empty
// host (":8080") listens on every interface.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // a zone (fe80::1%eth0) is never loopback, ::1%lo is
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Service runs the dashboard role.
type Service struct {
	cfg   Config
	kafka kafkaconn.Config
	ch    chconn.Config
	log   *slog.Logger
	m     *metrics
	// hub is the newest reading per series, for GET /api/latest (latest.go).
	hub  *latestReadings
	kpis kpiStore   // the KPI tiles (kpis.go)
	idx  indexState // the service index engine (serviceindex.go)
	auth *auth.Auth

	// the wall model and websocket protocol v2 (wall.go, wsv2.go)
	wallParts

	ready atomic.Bool
	addr  atomic.Value // net.Addr once listening
}

// New checks the configuration and prepares the role.
func New(cfg Config, kc kafkaconn.Config, ch chconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newMetrics(reg)
	a, err := auth.New(cfg.Auth, auth.Options{AllowedOrigins: cfg.AllowedOrigins, ClickHouse: ch, Log: log, Registry: reg})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, kafka: kc, ch: ch, log: log.With("component", "dashboard"), m: m, hub: newLatestReadings(cfg.MaxKeys, m), auth: a}
	s.initWall(reg)
	return s, nil
}

// Auth is the dashboard's access control: accounts, kiosk tokens, audit.
func (s *Service) Auth() *auth.Auth { return s.auth }

// Ready reports whether the wall is serving live data and has read the
// live device registry.
func (s *Service) Ready() bool { return s.ready.Load() && s.regf.Ready() }

// Addr is the address the dashboard listens on, once it does.
func (s *Service) Addr() net.Addr {
	a, _ := s.addr.Load().(net.Addr)
	return a
}

// Run serves until ctx is cancelled, then closes every websocket with
// "going away" and stops.
func (s *Service) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dashboard listening on %s: %w (is another process using the port? set dashboard.listen)", s.cfg.Listen, err)
	}
	s.addr.Store(ln.Addr())
	srv := s.httpServer()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		serve := func() error { return srv.Serve(ln) }
		if s.cfg.TLSCertFile != "" {
			serve = func() error { return srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile) }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("dashboard http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		s.seed(gctx)
		s.seedWall(gctx)
		return s.follow(gctx)
	})
	g.Go(func() error { return s.followKPIs(gctx) })
	g.Go(func() error { return s.runWall(gctx) })
	g.Go(func() error { return s.auth.Run(gctx) })
	g.Go(func() error { s.revalidate(gctx); return nil })
	s.log.Info("dashboard running", "url", "http://"+displayAddr(ln.Addr())+"/")
	<-gctx.Done()
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	err = g.Wait()
	s.log.Info("dashboard stopped")
	return err
}

// httpServer is the dashboard's HTTP server with its timeouts and limits.
func (s *Service) httpServer() *http.Server {
	return &http.Server{Handler: s.routes(), ReadHeaderTimeout: s.cfg.HTTPReadHeaderTimeout, ReadTimeout: s.cfg.HTTPReadTimeout,
		IdleTimeout: s.cfg.HTTPIdleTimeout, MaxHeaderBytes: 16 << 10}
}

func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if ok && (tcp.IP == nil || tcp.IP.IsUnspecified()) {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return a.String()
}

// seed loads the latest value per device and metric from ClickHouse so the
// wall is full at once after a restart. The wall still works without it.
func (s *Service) seed(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := s.ch.Open(sctx)
	if err != nil {
		s.log.Warn("wall starts empty: cannot read latest values from clickhouse", "err", err)
		return
	}
	defer conn.Close()
	q, err := s.wallQuery("latest.sql", map[string]any{"WindowS": int(s.cfg.SeedWindow.Seconds()), "Limit": s.cfg.MaxKeys})
	if err != nil {
		s.log.Error("wall starts empty", "err", err)
		return
	}
	rows, err := conn.Query(sctx, q)
	if err != nil {
		s.log.Warn("wall starts empty: reading latest values from clickhouse", "err", err)
		return
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var r event.Reading
		var kind int8
		var vb, reg uint8
		if err := rows.Scan(&r.DeviceID, &r.Metric, &r.Partner, &r.ID, &kind, &r.Value, &r.String, &vb, &r.Unit,
			&r.ObservedMs, &r.ReceivedMs, &r.Ward, &reg); err != nil {
			s.log.Warn("reading latest values from clickhouse", "err", err)
			return
		}
		r.Kind, r.Bool, r.Registered = event.Kind(kind), vb == 1, reg == 1
		s.hub.update(r)
		s.wall.seedReading(&r)
		n++
	}
	s.log.Info("wall seeded from clickhouse", "series", n)
}

// follow reads every partition of the readings topic from a little
// before its end (kafkaconn.Tail): readings that were in Kafka but not yet
// in ClickHouse when the seed ran are not missed, and replaying a few is
// harmless (the hub keeps the newest per key).
func (s *Service) follow(ctx context.Context) error {
	if err := backoff.Retry(ctx, s.log, "creating kafka topics", func() error {
		return s.kafka.EnsureTopics(ctx, event.TopicReadings, event.TopicDeadLetter)
	}); err != nil {
		return nil // shutting down
	}
	defer event.Readings.Join()() // decoded once with stream and the monitor under `ioc run`
	return s.kafka.Tail(ctx, s.log, event.TopicReadings, s.cfg.Replay, func() { s.ready.Store(true) }, func(m kafka.Message) {
		var rd event.Reading
		if err := event.Readings.Decode(m.Value, &rd); err != nil || rd.DeviceID == "" {
			return // stream dead-letters it; the wall just skips it
		}
		s.m.readings.Inc()
		s.hub.update(rd)
		s.wall.reading(&rd)
	}, kafkaconn.Batched(s.cfg.FetchMinBytes, s.cfg.FetchMaxWait))
}

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	mux.Handle("GET /", files) // auth.Handler sets the strict Content-Security-Policy on every answer
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /api/latest", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(LatestResponse{Type: "snapshot", ServerMs: time.Now().UnixMilli(), Readings: s.hub.snapshot()})
	})
	s.wallRoutes(mux)
	s.devicePageRoutes(mux) // the device page (devicepage.go)
	s.kpiRoutes(mux)
	s.deviceRoutes(mux)
	s.notificationRoutes(mux) // notifications.go
	s.reportRoutes(mux)       // drill-downs, the KPI report, exports (reports.go, exports.go)
	s.indexRoutes(mux)        // the service index of QĐ 766 (serviceindex.go)
	s.auth.Mount(mux)
	guarded := s.auth.Handler(mux) // access policy, security headers and body limits on every route
	// /healthz answers before the access policy, whatever the sign-in
	// settings: the kubelet's startup probe asks the web port without a session.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// checkOrigin allows same-host pages and the configured origins.
func (s *Service) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return u.Host == r.Host || slices.Contains(s.cfg.AllowedOrigins, origin)
}
