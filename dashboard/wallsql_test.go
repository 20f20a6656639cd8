package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/slogcheck"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// TestWallQueriesRunOnClickHouse renders every query of sql/ as the
// dashboard does and runs it on a fresh database of the local ClickHouse:
// the seeds log no warning, the open alert is seeded, and the history and
// unregistered endpoints answer 200.
func TestWallQueriesRunOnClickHouse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, conn := chtest.Migrated(t, "ioc_wallsql", schema.Migrate)
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
	log, lines := slogcheck.Logger(t) // also fails on a key repeated in a line
	s, err := New(Config{}, kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}}, ch, log, prometheus.NewRegistry())
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
	seeded := false
	recs := lines.All()
	for _, r := range recs {
		if strings.HasPrefix(r, "WARN") || strings.HasPrefix(r, "ERROR") {
			t.Errorf("logged: %s", r)
		}
		if strings.Contains(r, "wall model seeded") && strings.Contains(r, " alerts=1") {
			seeded = true
		}
	}
	if !seeded {
		t.Errorf("no log line says one alert was seeded: %q", recs)
	}
}
