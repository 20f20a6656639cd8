package audit

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chconn"
)

type memSink struct {
	mu  sync.Mutex
	evs []Event
}

func (m *memSink) Record(e Event) { m.mu.Lock(); m.evs = append(m.evs, e); m.mu.Unlock() }

func TestRefusalsAreRecorded(t *testing.T) {
	sink := &memSink{}
	h := Refusals(sink, "ingest", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.WriteHeader(http.StatusAccepted)
		case "Bearer limited":
			w.WriteHeader(http.StatusTooManyRequests)
		case "Bearer other-system":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	for _, c := range []struct{ auth, outcome, reason string }{
		{"", Denied, "no_token"},
		{"Bearer wrong", Denied, "bad_token"},
		{"Bearer other-system", Denied, "not_allowed"},
		{"Bearer limited", Limited, "too_many_requests"},
		{"Bearer good", "", ""},
	} {
		sink.evs = nil
		req := httptest.NewRequest("POST", "/v1/events/dossier", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if c.outcome == "" {
			if len(sink.evs) != 0 {
				t.Errorf("%q: accepted request recorded: %+v", c.auth, sink.evs)
			}
			continue
		}
		if len(sink.evs) != 1 || sink.evs[0].Outcome != c.outcome || sink.evs[0].Reason != c.reason ||
			sink.evs[0].Action != "system.post" || sink.evs[0].Target != "POST /v1/events/dossier" || sink.evs[0].Remote != "192.0.2.1" {
			t.Errorf("%q: recorded %+v, want one %s/%s", c.auth, sink.evs, c.outcome, c.reason)
		}
	}
}

func TestWritersShareMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := New(Config{}, chconn.Config{}, "dashboard", slog.New(slog.DiscardHandler), reg)
	b := New(Config{}, chconn.Config{}, "ingest", slog.New(slog.DiscardHandler), reg)
	a.Record(Event{Outcome: OK})
	b.Record(Event{Outcome: OK})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "ioc_audit_events_total" {
			got = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 2 {
		t.Errorf("ioc_audit_events_total{outcome=ok} = %v, want 2", got)
	}
}
