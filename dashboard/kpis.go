package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/event"
)

// The leadership's KPI tiles: the KPI engine (stream role) publishes each
// tile to the compacted topic ioc.kpi.tiles.v1 whenever it changes; the
// dashboard reads the topic from its beginning (a few dozen records) and
// keeps the newest tile per id. It serves them at GET /api/kpis and on the
// websocket channel "kpi" (/ws?channels=kpi, which needs the kpi.view
// permission), whose keys are the tile ids (docs/websocket.md). The KPI
// page is /kpi/ (web/kpi.html, kpi.js, kpi.css).

// KPIResponse is the body of GET /api/kpis.
type KPIResponse struct {
	ServerMs int64        `json:"server_ms"`
	Tiles    []event.Tile `json:"tiles"`
}

// kpiStore holds the newest tile per id. Its zero value is ready to use.
type kpiStore struct {
	mu    sync.Mutex
	tiles map[string]event.Tile
}

func (k *kpiStore) put(t event.Tile) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tiles == nil {
		k.tiles = map[string]event.Tile{}
	}
	k.tiles[t.ID] = t
}

func sortTiles(ts []event.Tile) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Order != ts[j].Order {
			return ts[i].Order < ts[j].Order
		}
		return ts[i].ID < ts[j].ID
	})
}

// all copies every tile, in page order; the caller holds k.mu.
func (k *kpiStore) all() []event.Tile {
	out := make([]event.Tile, 0, len(k.tiles))
	for _, t := range k.tiles {
		out = append(out, t)
	}
	sortTiles(out)
	return out
}

// putTile keeps a tile (raw is its encoding, from the topic) for
// GET /api/kpis and on the kpi channel, key = tile id (docs/websocket.md).
func (s *Service) putTile(t event.Tile, raw []byte) {
	s.kpis.put(t)
	if c := s.v2.channel("kpi", false); c != nil {
		c.setRaw(t.ID, raw)
	}
}

// followKPIs keeps the store and the kpi channel up to date from the
// tiles topic.
func (s *Service) followKPIs(ctx context.Context) error {
	for ctx.Err() == nil {
		err := backoff.Retry(ctx, s.log, "creating the KPI tiles topic", func() error {
			return s.kafka.EnsureCompactedTopic(ctx, event.TopicKPITiles)
		})
		if err == nil {
			err = s.kafka.FollowCompacted(ctx, event.TopicKPITiles, nil, func(m kafka.Message) {
				var t event.Tile
				if err := event.UnmarshalTile(m.Value, &t); err != nil || t.ID != string(m.Key) {
					return
				}
				s.putTile(t, m.Value)
			})
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("following the KPI tiles topic; starting over", "err", err)
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// kpiRoutes adds GET /api/kpis, GET /api/kpis/{id} and the page at /kpi/.
func (s *Service) kpiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/kpis", func(w http.ResponseWriter, r *http.Request) {
		s.kpis.mu.Lock()
		resp := KPIResponse{ServerMs: time.Now().UnixMilli(), Tiles: s.kpis.all()}
		s.kpis.mu.Unlock()
		writeJSON(w, http.StatusOK, resp)
	})
	mux.HandleFunc("GET /api/kpis/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.kpis.mu.Lock()
		t, ok := s.kpis.tiles[r.PathValue("id")]
		s.kpis.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no tile " + r.PathValue("id")})
			return
		}
		writeJSON(w, http.StatusOK, t)
	})
	mux.Handle("GET /kpi", http.RedirectHandler("/kpi/", http.StatusFound))
	mux.HandleFunc("GET /kpi/{file...}", func(w http.ResponseWriter, r *http.Request) {
		name, ctype := "", ""
		switch r.PathValue("file") {
		case "", "index.html":
			name, ctype = "web/kpi.html", "text/html; charset=utf-8"
		case "kpi.js":
			name, ctype = "web/kpi.js", "text/javascript; charset=utf-8"
		case "kpi.css":
			name, ctype = "web/kpi.css", "text/css; charset=utf-8"
		case "kpi-drill.js": // drill-down panel and report download (an ES module)
			name, ctype = "web/kpi-drill.js", "text/javascript; charset=utf-8"
		case "kpi-drill.css":
			name, ctype = "web/kpi-drill.css", "text/css; charset=utf-8"
		case "service-index.html": // the service index of QĐ 766 (serviceindex.go)
			name, ctype = "web/service-index.html", "text/html; charset=utf-8"
		case "service-index.js":
			name, ctype = "web/service-index.js", "text/javascript; charset=utf-8"
		case "service-index.css":
			name, ctype = "web/service-index.css", "text/css; charset=utf-8"
		default:
			http.NotFound(w, r)
			return
		}
		b, err := webFS.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
