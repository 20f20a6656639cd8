// Package adminhttp is the ingest role's HTTP endpoint for the city's
// administrative systems that cannot produce to Kafka themselves:
//
//	POST /v1/events/{kind}    Authorization: Bearer <the system's token>
//
// with a JSON array of events or NDJSON (one event per line). Each event is
// validated; valid ones go to ioc.admin.<kind>.v1 keyed by entity id,
// invalid ones to the dead-letter topic with the reason. The response comes
// only after Kafka acknowledged every record on all in-sync replicas: 202
// when all were valid, 422 with the reasons when some were not (the valid
// ones are accepted all the same; resending them is harmless, their ids
// are deterministic). See docs/admin-events.md.
package adminhttp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Config is the endpoint's configuration (section ingest.http).
type Config struct {
	// Listen is host:port; empty turns the endpoint off.
	Listen string `yaml:"listen"`
	// TokensFile lists one system per line: "<system> <token> [kind,...]"
	// (kinds it may post; all when omitted). '#' starts a comment.
	TokensFile string `yaml:"tokens_file"`
	// Tokens holds the same lines, separated by ';' (IOC_INGEST_HTTP_TOKENS);
	// never read from or written to the YAML file.
	Tokens string `yaml:"-"`
	// MaxBodyBytes bounds a request body (413 beyond).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxEvents bounds the events of one request.
	MaxEvents int `yaml:"max_events"`
	// MaxInFlight bounds concurrent requests (503 with Retry-After beyond).
	MaxInFlight int `yaml:"max_in_flight"`
	// Timeout is how long a request may wait for Kafka's acknowledgement.
	Timeout time.Duration `yaml:"timeout"`
	// TLSCertFile and TLSKeyFile (PEM) make the endpoint serve HTTPS only
	// (TLS 1.2 or newer). The pair is read again when either file changes,
	// so a renewed certificate needs no restart. Without them the endpoint
	// speaks plain HTTP: only behind a TLS-terminating proxy or on a
	// private network.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = 5000
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 64
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("ingest.http.listen: %q is not [host]:port: %w", c.Listen, err)
	}
	switch {
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("ingest.http.max_body_bytes: %d is below 1024", c.MaxBodyBytes)
	case c.MaxEvents < 1:
		return fmt.Errorf("ingest.http.max_events: %d must be positive", c.MaxEvents)
	case c.MaxInFlight < 1:
		return fmt.Errorf("ingest.http.max_in_flight: %d must be positive", c.MaxInFlight)
	case c.Timeout < time.Second:
		return fmt.Errorf("ingest.http.timeout: %s is below 1s", c.Timeout)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("ingest.http.tls_cert_file and tls_key_file: set both (HTTPS) or neither (plain HTTP)")
	}
	if c.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			return fmt.Errorf("ingest.http.tls_cert_file / tls_key_file: %w (PEM certificate chain and its private key)", err)
		}
	}
	// The tokens may come from the environment of the ingest process only
	// (other commands read the same file): checked when present, required
	// by New.
	if c.TokensFile != "" || strings.TrimSpace(c.Tokens) != "" {
		if _, err := c.LoadTokens(); err != nil {
			return err
		}
	}
	return nil
}

// Principal is a system allowed to post, and what it may post.
type Principal struct {
	System string
	Kinds  []event.AdminKind // empty: every kind
}

func (p *Principal) may(k event.AdminKind) bool {
	return len(p.Kinds) == 0 || slices.Contains(p.Kinds, k)
}

// LoadTokens reads the tokens of the file and of Tokens, keyed by the
// SHA-256 of the token (the tokens themselves are not kept).
func (c *Config) LoadTokens() (map[[32]byte]Principal, error) {
	out := map[[32]byte]Principal{}
	var lines []string
	if c.TokensFile != "" {
		b, err := os.ReadFile(c.TokensFile)
		if err != nil {
			return nil, fmt.Errorf("ingest.http.tokens_file: %w", err)
		}
		lines = append(lines, strings.Split(string(b), "\n")...)
	}
	lines = append(lines, strings.Split(c.Tokens, ";")...)
	for i, l := range lines {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			l = l[:j]
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("ingest.http tokens, entry %d: want \"<system> <token> [kind,...]\"", i+1)
		}
		if len(f[1]) < 24 {
			return nil, fmt.Errorf("ingest.http tokens, system %s: the token is shorter than 24 characters (try: openssl rand -hex 24)", f[0])
		}
		p := Principal{System: f[0]}
		if len(f) == 3 {
			for _, k := range strings.Split(f[2], ",") {
				kind, ok := event.ParseAdminKind(k)
				if !ok {
					return nil, fmt.Errorf("ingest.http tokens, system %s: %q is not one of %v", f[0], k, event.AdminKinds)
				}
				p.Kinds = append(p.Kinds, kind)
			}
		}
		h := sha256.Sum256([]byte(f[1]))
		if _, dup := out[h]; dup {
			return nil, fmt.Errorf("ingest.http tokens, system %s: the same token is given to two systems", f[0])
		}
		out[h] = p
	}
	if len(out) == 0 {
		return nil, errors.New("ingest.http.listen is set but no system has a token: set ingest.http.tokens_file or IOC_INGEST_HTTP_TOKENS")
	}
	return out, nil
}

// Service runs the endpoint.
type Service struct {
	cfg      Config
	kafka    kafkaconn.Config
	log      *slog.Logger
	m        *metrics
	tokens   map[[32]byte]Principal
	writer   *kafka.Writer
	inFlight chan struct{}
	ready    atomic.Bool
	addr     atomic.Value
	now      func() time.Time
	// Audit records every refused post (no token, wrong token, a kind the
	// system may not post) in the audit log (internal/audit); nil: not recorded.
	Audit audit.Sink
}

// New checks the configuration and loads the tokens.
func New(cfg Config, kc kafkaconn.Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg.Defaults()
	if cfg.Listen == "" {
		return nil, errors.New("ingest.http.listen: not set")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tokens, err := cfg.LoadTokens()
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, kafka: kc, log: log.With("component", "ingest-http"), m: newMetrics(reg), tokens: tokens,
		inFlight: make(chan struct{}, cfg.MaxInFlight), now: time.Now}, nil
}

// Ready reports whether the endpoint is listening.
func (s *Service) Ready() bool { return s.ready.Load() }

// Addr is the address the endpoint listens on, once it does.
func (s *Service) Addr() net.Addr {
	a, _ := s.addr.Load().(net.Addr)
	return a
}

// Run serves until ctx ends, then stops taking requests and lets those in
// flight finish (their records acknowledged or their clients told to retry).
func (s *Service) Run(ctx context.Context) error {
	if err := backoff.Retry(ctx, s.log, "creating kafka topics", func() error {
		return s.kafka.EnsureTopics(ctx, append(event.AdminTopics(), event.TopicDeadLetter)...) // waits for their leaders
	}); err != nil {
		return nil // shutting down
	}
	s.writer = s.kafka.NewWriter(kafkaconn.WriterOptions{Linger: 2 * time.Millisecond, BatchSize: 500})
	defer s.writer.Close()
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ingest http listening on %s: %w (is another process using the port? set ingest.http.listen)", s.cfg.Listen, err)
	}
	s.addr.Store(ln.Addr())
	srv := s.server()
	scheme := "http"
	if s.cfg.TLSCertFile != "" {
		scheme = "https"
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.ready.Store(true)
	s.log.Info("ingest http endpoint running", "listen", ln.Addr().String(), "scheme", scheme, "systems", len(s.tokens))
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("ingest http endpoint: %w", err)
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout+5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	s.log.Info("ingest http endpoint stopped")
	return nil
}

// server is the endpoint's HTTP server: every phase of a request has a
// deadline (a client that trickles its headers or body, or idles, is cut
// off), and with tls_cert_file it serves TLS 1.2 or newer only.
func (s *Service) server() *http.Server {
	srv := &http.Server{Handler: audit.Refusals(s.Audit, "ingest", s.Handler()), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: s.cfg.Timeout + 30*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if s.cfg.TLSCertFile != "" {
		kp := &keyPair{cert: s.cfg.TLSCertFile, key: s.cfg.TLSKeyFile}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.get}
	}
	return srv
}

// keyPair serves a certificate from files, read again when they change.
type keyPair struct {
	cert, key string
	mu        sync.Mutex
	stamp     string
	pair      *tls.Certificate
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	var stamp strings.Builder
	for _, f := range []string{k.cert, k.key} {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("ingest.http TLS: %w", err)
		}
		fmt.Fprintf(&stamp, "%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pair == nil || k.stamp != stamp.String() {
		pair, err := tls.LoadX509KeyPair(k.cert, k.key)
		if err != nil {
			if k.pair != nil {
				return k.pair, nil // a renewal half written: keep serving the last good pair
			}
			return nil, fmt.Errorf("ingest.http TLS: %w", err)
		}
		k.pair, k.stamp = &pair, stamp.String()
	}
	return k.pair, nil
}

// Handler is the endpoint's routes.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events/{kind}", s.post)
	return mux
}

// Response is the body of every answer to a POST.
type Response struct {
	Accepted int       `json:"accepted"`
	Rejected int       `json:"rejected"`
	IDs      []string  `json:"ids,omitempty"`    // event ids of the accepted events, in order
	Errors   []Problem `json:"errors,omitempty"` // one per rejected event
	Error    string    `json:"error,omitempty"`  // the request as a whole
}

// Problem says why one event was rejected.
type Problem struct {
	Index  int          `json:"index"` // position in the array or line (from 0)
	Reason event.Reason `json:"reason"`
	Detail string       `json:"detail"`
}

func (s *Service) reply(w http.ResponseWriter, code int, kind string, r Response) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
	s.m.requests.WithLabelValues(kind, strconv.Itoa(code)).Inc()
}

func (s *Service) post(w http.ResponseWriter, r *http.Request) {
	kindName := r.PathValue("kind")
	kind, ok := event.ParseAdminKind(kindName)
	label := string(kind)
	if !ok {
		label = "unknown"
	}
	// Authentication first: an unauthenticated caller learns nothing else.
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p, known := s.tokens[sha256.Sum256([]byte(strings.TrimSpace(tok)))]
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ioc"`)
		s.reply(w, http.StatusUnauthorized, label, Response{Error: "missing or unknown bearer token"})
		return
	}
	if kind == "" {
		s.reply(w, http.StatusNotFound, label, Response{Error: fmt.Sprintf("unknown kind %q; kinds are %v", kindName, event.AdminKinds)})
		return
	}
	if !p.may(kind) {
		s.reply(w, http.StatusForbidden, label, Response{Error: fmt.Sprintf("system %s may not post %s events", p.System, kind)})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" && mt != "application/x-ndjson" && mt != "application/jsonl" {
			s.reply(w, http.StatusUnsupportedMediaType, label, Response{Error: "send application/json (an array) or application/x-ndjson"})
			return
		}
	}
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		w.Header().Set("Retry-After", "2")
		s.reply(w, http.StatusServiceUnavailable, label, Response{Error: "too many requests in flight (ingest.http.max_in_flight); retry"})
		return
	}
	now := s.now()
	source := fmt.Sprintf("POST /v1/events/%s system=%s", kind, p.System)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		dl := event.NewDeadLetter("http", source, truncate(body, 64<<10), now.UnixMilli(),
			event.Invalid(event.ReasonOversize, "request body exceeds %d bytes (ingest.http.max_body_bytes); first 64 KiB kept", s.cfg.MaxBodyBytes))
		if err := s.writeDead(r.Context(), []event.DeadLetter{dl}); err != nil {
			w.Header().Set("Retry-After", "5")
			s.reply(w, http.StatusServiceUnavailable, label, Response{Error: "kafka did not acknowledge: " + err.Error()})
			return
		}
		s.reply(w, http.StatusRequestEntityTooLarge, label, Response{Error: dl.Detail})
		return
	}
	if err != nil {
		s.reply(w, http.StatusBadRequest, label, Response{Error: "reading the request body: " + err.Error()})
		return
	}
	raws, perr := split(body)
	if perr == nil && len(raws) > s.cfg.MaxEvents {
		perr = event.Invalid(event.ReasonOversize, "%d events in one request, at most %d (ingest.http.max_events)", len(raws), s.cfg.MaxEvents)
	}
	if perr != nil {
		dl := event.NewDeadLetter("http", source, body, now.UnixMilli(), perr)
		code := http.StatusBadRequest
		if dl.Reason == event.ReasonOversize {
			code = http.StatusRequestEntityTooLarge
		}
		if err := s.writeDead(r.Context(), []event.DeadLetter{dl}); err != nil {
			w.Header().Set("Retry-After", "5")
			s.reply(w, http.StatusServiceUnavailable, label, Response{Error: "kafka did not acknowledge: " + err.Error()})
			return
		}
		s.reply(w, code, label, Response{Error: string(dl.Reason) + ": " + dl.Detail})
		return
	}

	var msgs []kafka.Message
	resp := Response{}
	topic := s.kafka.Topic(event.AdminTopic(kind))
	for i, raw := range raws {
		ev, err := event.DecodeAdmin(kind, raw)
		if err == nil {
			ev.Meta().Source = p.System
			ev.Meta().ReceivedMs = 0
			err = event.PrepareAdmin(ev, now.UnixMilli(), event.DefaultAdminLimits)
		}
		var val []byte
		if err == nil {
			val, err = event.MarshalAdmin(ev)
		}
		if err != nil {
			dl := event.NewDeadLetter("http", source+" #"+strconv.Itoa(i), raw, now.UnixMilli(), err)
			b, merr := event.MarshalDeadLetter(&dl)
			if merr != nil {
				s.reply(w, http.StatusInternalServerError, label, Response{Error: "encoding a dead letter: " + merr.Error()})
				return
			}
			msgs = append(msgs, kafka.Message{Topic: s.kafka.Topic(event.TopicDeadLetter), Key: []byte(dl.SourceTopic), Value: b})
			resp.Rejected++
			resp.Errors = append(resp.Errors, Problem{Index: i, Reason: dl.Reason, Detail: dl.Detail})
			s.m.deadLetters.WithLabelValues(string(dl.Reason)).Inc()
			continue
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(ev.EntityID()), Value: val})
		resp.Accepted++
		resp.IDs = append(resp.IDs, ev.Meta().ID)
	}
	// Answer only once Kafka has every record on all in-sync replicas.
	wctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	if err := s.writer.WriteMessages(wctx, msgs...); err != nil {
		s.m.writeErrors.Inc()
		s.log.Warn("kafka did not acknowledge a request; the client is told to retry", "kind", kind, "system", p.System, "events", len(raws), "err", err)
		w.Header().Set("Retry-After", "5")
		s.reply(w, http.StatusServiceUnavailable, label, Response{Error: "kafka did not acknowledge the events; none may be counted as accepted, retry (resending is harmless)"})
		return
	}
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	s.m.events.WithLabelValues(label, "accepted").Add(float64(resp.Accepted))
	s.m.events.WithLabelValues(label, "rejected").Add(float64(resp.Rejected))
	code := http.StatusAccepted
	if resp.Rejected > 0 {
		code = http.StatusUnprocessableEntity
	}
	s.reply(w, code, label, resp)
}

// writeDead produces dead letters for a request rejected as a whole.
func (s *Service) writeDead(ctx context.Context, dls []event.DeadLetter) error {
	msgs := make([]kafka.Message, 0, len(dls))
	for i := range dls {
		b, err := event.MarshalDeadLetter(&dls[i])
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Topic: s.kafka.Topic(event.TopicDeadLetter), Key: []byte(dls[i].SourceTopic), Value: b})
		s.m.deadLetters.WithLabelValues(string(dls[i].Reason)).Inc()
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return s.writer.WriteMessages(wctx, msgs...)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// split cuts a body into the raw bytes of its events: the elements of a
// JSON array, or the non-empty lines of NDJSON. A malformed NDJSON line is
// one invalid event; a malformed array is an invalid request.
func split(body []byte) ([][]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, event.Invalid(event.ReasonEmpty, "empty body; send a JSON array of events or NDJSON")
	}
	if trimmed[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, event.Invalid(event.ReasonNotJSON, "the body is not a JSON array of events: %v", err)
		}
		if len(raws) == 0 {
			return nil, event.Invalid(event.ReasonEmpty, "empty array")
		}
		out := make([][]byte, len(raws))
		for i, r := range raws {
			out[i] = r
		}
		return out, nil
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(trimmed))
	sc.Buffer(make([]byte, 64<<10), len(trimmed)+1)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, append([]byte(nil), line...))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, event.Invalid(event.ReasonNotJSON, "reading NDJSON: %v", err)
	}
	return out, nil
}

type metrics struct {
	requests     *prometheus.CounterVec
	events       *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	writeSeconds prometheus.Histogram
	writeErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_ingest_http_requests_total",
			Help: "Requests to the administrative-events endpoint, by kind and status code."}, []string{"kind", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_ingest_http_events_total",
			Help: "Administrative events posted, by kind and result (accepted, rejected)."}, []string{"kind", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_ingest_http_dead_letters_total",
			Help: "Administrative events (or whole requests) sent to the dead-letter topic, by reason."}, []string{"reason"}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_ingest_http_kafka_write_seconds",
			Help: "Time for Kafka to acknowledge a request's records.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_ingest_http_kafka_write_errors_total",
			Help: "Requests answered 503 because Kafka did not acknowledge their records."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.events, m.deadLetters, m.writeSeconds, m.writeErrors)
	}
	return m
}
