package adminhttp

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

const tokA = "token-of-igate-0123456789abcdef"
const tokB = "token-of-eoffice-0123456789abcd"

func TestLoadTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	if err := os.WriteFile(file, []byte("# systems\nigate "+tokA+" dossier,procedure\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Listen: ":8090", TokensFile: file, Tokens: "eoffice " + tokB}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	toks, _ := c.LoadTokens()
	if len(toks) != 2 {
		t.Fatalf("%d systems, want 2", len(toks))
	}
	none := Config{Listen: ":8090"}
	none.Defaults()
	if _, err := New(none, kafkaconn.Config{}, slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "no system has a token") {
		t.Errorf("an endpoint without tokens: %v", err)
	}
	for _, bad := range []struct{ tokens, want string }{
		{" ; ", "no system has a token"},
		{"igate short", "shorter than 24"},
		{"igate " + tokA + " dossier,weather", "not one of"},
		{"igate " + tokA + "; other " + tokA, "two systems"},
		{"igate", "want"},
	} {
		c := Config{Listen: ":8090", Tokens: bad.tokens}
		c.Defaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("tokens %q: %v, want an error with %q", bad.tokens, err, bad.want)
		}
	}
	off := Config{}
	off.Defaults()
	if err := off.Validate(); err != nil {
		t.Errorf("the endpoint off needs no tokens: %v", err)
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		body string
		n    int
		want event.Reason
	}{
		{`[{"a":1},{"b":2}]`, 2, ""},
		{" {\"a\":1}\n\n{\"b\":2}\n", 2, ""},
		{"{\"a\":1}\nnot json\n", 2, ""}, // a bad line is one bad event
		{`[{"a":1},`, 0, event.ReasonNotJSON},
		{`[]`, 0, event.ReasonEmpty},
		{"  \n", 0, event.ReasonEmpty},
	} {
		got, err := split([]byte(c.body))
		switch {
		case c.want != "" && (err == nil || err.(*event.ValidationError).Reason != c.want):
			t.Errorf("%q: %v, want %s", c.body, err, c.want)
		case c.want == "" && (err != nil || len(got) != c.n):
			t.Errorf("%q: %d events, %v; want %d", c.body, len(got), err, c.n)
		}
	}
}

// Requests refused before anything reaches Kafka.
func TestRefusals(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", MaxBodyBytes: 1024, Tokens: "igate " + tokA + " dossier"},
		kafkaconn.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, c := range []struct {
		method, path, token, ctype string
		want                       int
	}{
		{"POST", "/v1/events/dossier", "", "application/json", 401},
		{"POST", "/v1/events/dossier", "Bearer " + tokB, "application/json", 401},
		{"POST", "/v1/events/dossier", tokA, "application/json", 401}, // not "Bearer ..."
		{"POST", "/v1/events/weather", "Bearer " + tokA, "application/json", 404},
		{"POST", "/v1/events/document", "Bearer " + tokA, "application/json", 403},
		{"POST", "/v1/events/dossier", "Bearer " + tokA, "text/csv", 415},
		{"GET", "/v1/events/dossier", "Bearer " + tokA, "", 405},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(`[{}]`))
		if c.token != "" {
			req.Header.Set("Authorization", c.token)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s %s (%q): %d, want %d: %s", c.method, c.path, c.token, rec.Code, c.want, rec.Body)
		}
		if c.want == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
}

// An oversized body whose dead letter Kafka does not take is answered 503
// (retry later), like every other rejection whose dead letter was not
// written: it is not reported as handled while its trace is lost.
func TestOversizeDeadLetterNotAcknowledged(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", MaxBodyBytes: 1024, Timeout: time.Second, Tokens: "igate " + tokA + " dossier"},
		kafkaconn.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// Kafka down: a listener that refuses every connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s.writer = &kafka.Writer{Addr: kafka.TCP(addr), MaxAttempts: 1}
	t.Cleanup(func() { s.writer.Close() })
	req := httptest.NewRequest("POST", "/v1/events/dossier", strings.NewReader(`[`+strings.Repeat(" ", 2048)+`]`))
	req.Header.Set("Authorization", "Bearer "+tokA)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("oversized body with Kafka down: %d (Retry-After %q), want 503 with Retry-After: %s",
			rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}
