package dashboard

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
)

// WallConfig is the wall's model and websocket protocol v2
// (dashboard.wall; docs/websocket.md).
type WallConfig struct {
	// RegistryFile is read when ClickHouse's devices table cannot be (the
	// stream loads the registry there); empty takes ingest.registry_file.
	RegistryFile string `yaml:"registry_file"`
	// Heartbeat: the server sends a heartbeat this often; a client that
	// sends nothing (not even its own heartbeat) for HeartbeatTimeout is
	// disconnected.
	Heartbeat        time.Duration `yaml:"heartbeat"`
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// ClientQueueBytes bounds what waits for one client; beyond it the
	// client's channels coalesce (latest value per key), and a client still
	// behind after SlowTimeout is disconnected as slow.
	ClientQueueBytes int           `yaml:"client_queue_bytes"`
	SlowTimeout      time.Duration `yaml:"slow_timeout"`
	// MaxFrameBytes: larger snapshots are sent in parts.
	MaxFrameBytes int `yaml:"max_frame_bytes"`
	// ReplayBytes is the size of each channel's ring of recent deltas, from
	// which a reconnecting client resumes exactly.
	ReplayBytes int `yaml:"replay_bytes"`
	// MaxTombstones bounds the removed keys a channel remembers for
	// catch-ups; a client further behind gets a new snapshot.
	MaxTombstones int `yaml:"max_tombstones"`
	// SubscribesPerMinute bounds the subscribes of one connection (with a
	// burst of SubscribeBurst): each may cost a snapshot. Beyond it the
	// client gets an error "too_many_subscribes" (default 60 a minute,
	// burst 20).
	SubscribesPerMinute int `yaml:"subscribes_per_minute"`
	SubscribeBurst      int `yaml:"subscribe_burst"`
	// MaxDeviceChannels bounds the device:<id> channels open at once.
	MaxDeviceChannels int `yaml:"max_device_channels"`
	// TrendWindow is how much of each trend the wall channel carries live
	// (minute buckets); older points come from /api/history.
	TrendWindow time.Duration `yaml:"trend_window"`
	// HistoryMaxHours bounds /api/history.
	HistoryMaxHours int `yaml:"history_max_hours"`
	// ResolvedKeep is how long a resolved alert stays on the alerts channel.
	ResolvedKeep time.Duration `yaml:"resolved_keep"`
	MaxAlerts    int           `yaml:"max_alerts"`
	// MaxUnregistered bounds the unregistered devices listed on the wall.
	MaxUnregistered int `yaml:"max_unregistered"`
	// WaterStages are the warning stages drawn on water-level tiles and
	// charts (Báo động 1, 2, 3), in metres; empty takes the stream's
	// water_level rule.
	WaterStages []float64 `yaml:"water_stages"`

	writeTimeout time.Duration
}

// Defaults fills unset fields.
func (c *WallConfig) Defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Heartbeat, 10*time.Second)
	def(&c.HeartbeatTimeout, 45*time.Second)
	def(&c.SlowTimeout, 15*time.Second)
	def(&c.TrendWindow, 15*time.Minute)
	def(&c.ResolvedKeep, time.Hour)
	defInt(&c.ClientQueueBytes, 1<<20)
	defInt(&c.MaxFrameBytes, 512<<10)
	defInt(&c.ReplayBytes, 256<<10)
	defInt(&c.MaxTombstones, 20000)
	defInt(&c.MaxDeviceChannels, 1000)
	defInt(&c.SubscribesPerMinute, 60)
	defInt(&c.SubscribeBurst, 20)
	defInt(&c.HistoryMaxHours, 72)
	defInt(&c.MaxAlerts, 2000)
	defInt(&c.MaxUnregistered, 200)
	if c.WaterStages == nil {
		c.WaterStages = []float64{1.5, 2.0, 2.5}
	}
}

// Validate reports settings that cannot work.
func (c *WallConfig) Validate() error {
	switch {
	case c.Heartbeat < 100*time.Millisecond || c.HeartbeatTimeout < 2*c.Heartbeat:
		return errors.New("dashboard.wall.heartbeat must be at least 100ms and heartbeat_timeout at least twice it")
	case c.ClientQueueBytes < 64<<10:
		return fmt.Errorf("dashboard.wall.client_queue_bytes: %d is below 64 KiB", c.ClientQueueBytes)
	case c.MaxFrameBytes < 16<<10:
		return fmt.Errorf("dashboard.wall.max_frame_bytes: %d is below 16 KiB", c.MaxFrameBytes)
	case c.SubscribesPerMinute < 1 || c.SubscribeBurst < 1:
		return errors.New("dashboard.wall.subscribes_per_minute and subscribe_burst must be positive")
	case c.SlowTimeout < time.Second:
		return errors.New("dashboard.wall.slow_timeout must be at least 1s")
	case c.TrendWindow < 2*time.Minute || c.TrendWindow > 24*time.Hour:
		return errors.New("dashboard.wall.trend_window must be within 2m..24h")
	case c.ReplayBytes < 0 || c.MaxTombstones < 100 || c.MaxDeviceChannels < 1 || c.HistoryMaxHours < 1 ||
		c.MaxAlerts < 10 || c.MaxUnregistered < 1:
		return errors.New("dashboard.wall: replay_bytes, max_tombstones (≥100), max_device_channels, history_max_hours, max_alerts (≥10) and max_unregistered must be positive")
	}
	for i := 1; i < len(c.WaterStages); i++ {
		if c.WaterStages[i] <= c.WaterStages[i-1] {
			return errors.New("dashboard.wall.water_stages must rise")
		}
	}
	return nil
}

// v2hub holds the channels of protocol v2 and their sessions.
type v2hub struct {
	cfg   WallConfig
	epoch string // changes at every start: sequences of another epoch mean nothing
	maxIn int64
	m     *v2metrics
	// closes remembers why recent clients were cut off, by client id.
	closes map[string]closeNote

	mu       sync.Mutex
	channels map[string]*channel
	sessions map[*session]struct{}
	// device returns (open: or opens) the channel of a device, nil when the
	// device is unknown; devices lists the open ones.
	device  func(id string, open bool) *channel
	devices func() []*channel
}

type v2metrics struct {
	sessions   prometheus.Gauge
	frames     prometheus.Counter
	coalesced  prometheus.Counter
	catchUps   prometheus.Counter
	slow       prometheus.Counter
	subscribes *prometheus.CounterVec
	acks       *prometheus.CounterVec
}

func newV2Metrics(reg prometheus.Registerer) *v2metrics {
	m := &v2metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_dashboard_clients",
			Help: "Connected websocket clients."}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_frames_total",
			Help: "Frames written to websocket clients."}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_coalesced_total",
			Help: "Deltas not queued because a client's queue was full (dashboard.wall.client_queue_bytes); it gets a catch-up instead."}),
		catchUps: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_catchups_total",
			Help: "Catch-up deltas (latest value per key) sent to clients that lagged."}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_slow_clients_total",
			Help: "Websocket clients disconnected as slow (dashboard.wall.slow_timeout)."}),
		subscribes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_dashboard_subscribes_total",
			Help: "Subscriptions by how they started: snapshot, replay (from the ring) or catchup."}, []string{"mode"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_dashboard_alert_acks_total",
			Help: "Alert acknowledgements received, by result."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.frames, m.coalesced, m.catchUps, m.slow, m.subscribes, m.acks)
	}
	return m
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newV2Hub(cfg WallConfig, maxIn int64, reg prometheus.Registerer) *v2hub {
	h := &v2hub{cfg: cfg, epoch: newEpoch(), maxIn: max(maxIn, 1024), m: newV2Metrics(reg),
		channels: map[string]*channel{}, sessions: map[*session]struct{}{}}
	for _, name := range []string{"wall", "alerts", "kpi"} {
		h.channels[name] = newChannel(name, cfg.MaxTombstones, cfg.ReplayBytes)
	}
	return h
}

// channel returns a channel by name; device:<id> channels open on demand
// (the wall model keeps them).
func (h *v2hub) channel(name string, open bool) *channel {
	if id, ok := strings.CutPrefix(name, "device:"); ok {
		if h.device == nil {
			return nil
		}
		return h.device(id, open)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.channels[name]
}

// flush sends every channel's changes.
func (h *v2hub) flush() {
	h.mu.Lock()
	chans := make([]*channel, 0, len(h.channels))
	for _, c := range h.channels {
		chans = append(chans, c)
	}
	h.mu.Unlock()
	if h.devices != nil {
		chans = append(chans, h.devices()...)
	}
	for _, c := range chans {
		c.flush(h.epoch)
	}
}

type closeNote struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	AtMs   int64  `json:"at"`
}

func (h *v2hub) rememberClose(client string, code int, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closes == nil {
		h.closes = map[string]closeNote{}
	}
	if len(h.closes) >= 1000 {
		cut := time.Now().Add(-10 * time.Minute).UnixMilli()
		for k, v := range h.closes {
			if v.AtMs < cut || len(h.closes) >= 1000 {
				delete(h.closes, k)
			}
		}
	}
	h.closes[client] = closeNote{code, reason, time.Now().UnixMilli()}
}

func (h *v2hub) previousClose(client string) (closeNote, bool) {
	if client == "" {
		return closeNote{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.closes[client]
	delete(h.closes, client)
	return n, ok && time.Since(time.UnixMilli(n.AtMs)) < 10*time.Minute
}

func (h *v2hub) join(s *session) {
	h.mu.Lock()
	h.sessions[s] = struct{}{}
	h.m.sessions.Set(float64(len(h.sessions)))
	h.mu.Unlock()
}

func (h *v2hub) leave(s *session) {
	s.mu.Lock()
	subs := make([]*subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.ch.mu.Lock()
		delete(sub.ch.subs, s)
		sub.ch.mu.Unlock()
	}
	h.mu.Lock()
	delete(h.sessions, s)
	h.m.sessions.Set(float64(len(h.sessions)))
	h.mu.Unlock()
}

func (h *v2hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// closeAll ends every session (shutdown).
func (h *v2hub) closeAll(reason string) {
	h.mu.Lock()
	all := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.close(closeGoingAway, reason)
	}
}

// serveWS upgrades a websocket client (protocol v2, docs/websocket.md;
// /ws?v=2 and the subprotocol ioc.v2 are accepted as before). The access
// policy (internal/auth) has already checked the session or kiosk token,
// the Origin and the channels named in the URL.
func (s *Service) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.v2.count() >= s.cfg.MaxClients {
		http.Error(w, "too many wall clients (dashboard.max_clients)", http.StatusServiceUnavailable)
		return
	}
	up := newUpgrader(s.checkOrigin)
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.m.rejected.Inc()
		return // Upgrade already answered with the error
	}
	q := r.URL.Query()
	sess := newSession(conn, s.v2, channelsAllowed(append(q["channels"], q["channel"]...)),
		auth.NewMessageLimiter(s.cfg.Auth.WSMessagesPerSecond))
	if id := q.Get("client"); clientIDRE.MatchString(id) {
		sess.client = id
	}
	sess.who, _ = auth.FromContext(r.Context())
	sess.remote = s.auth.ClientIP(r)
	s.v2.join(sess)
	sess.run(30 * time.Second)
}

var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// wsWriteBuffers lends write buffers to websocket connections while they
// write a frame. Without it gorilla/websocket keeps a 16 KiB buffer per
// connection for its lifetime: 160 MB for 10,000 wall clients that each
// receive a frame a second (docs/performance.md).
var wsWriteBuffers sync.Pool

func newUpgrader(checkOrigin func(*http.Request) bool) websocket.Upgrader {
	return websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 16 << 10, WriteBufferPool: &wsWriteBuffers, EnableCompression: false,
		CheckOrigin: checkOrigin, Subprotocols: []string{"ioc.v2"},
	}
}
