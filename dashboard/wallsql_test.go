package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// records keeps what a logger wrote, for tests.
type records struct {
	mu   sync.Mutex
	recs []string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	h.recs = append(h.recs, b.String())
	h.mu.Unlock()
	return nil
}

// TestWallQueriesRunOnClickHouse renders every query of sql/ as the
// dashboard does and runs it on a fresh database of the local ClickHouse:
// the seeds log no warning, the open alert is seeded, and the history and
// unregistered endpoints answer 200.
func TestWallQueriesRunOnClickHouse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch := chtest.Scratch(t, "ioc_wallsql")
	conn, err := ch.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := schema.Migrate(ctx, conn, ch, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Table("alert_events_raw")+
		" (event_id, alert_id, rule, kind, severity, state, seq, subject, opened_at, opened_ms, at, at_ms)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("e1", "a1", "water_level", "threshold", "warning", "open", uint32(1), "device:x",
		now, now.UnixMilli(), now, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	h := &records{}
	s, err := New(Config{}, kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}}, ch, slog.New(h), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.seed(ctx)
	s.seedWall(ctx)
	for path, serve := range map[string]http.HandlerFunc{
		"/api/wall/history?metric=" + trendSeriesList[0].ID: s.serveHistory,
		"/api/wall/unregistered":                            s.serveUnregistered,
	} {
		w := httptest.NewRecorder()
		serve(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	seeded := false
	for _, r := range h.recs {
		if strings.HasPrefix(r, "WARN") || strings.HasPrefix(r, "ERROR") {
			t.Errorf("logged: %s", r)
		}
		if strings.Contains(r, "wall model seeded") && strings.Contains(r, " alerts=1") {
			seeded = true
		}
	}
	if !seeded {
		t.Errorf("no log line says one alert was seeded: %q", h.recs)
	}
}
