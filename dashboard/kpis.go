package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/event"
)

// The leadership's KPI tiles: the KPI engine (stream role) publishes each
// tile to the compacted topic ioc.kpi.tiles.v1 whenever it changes; the
// dashboard reads the topic from its beginning (a few dozen records) and
// keeps the newest tile per id. It serves them at GET /api/kpis and pushes
// them over /ws to the clients that asked for the "kpi" channel
// (/ws?channel=kpi, which needs the kpi.view permission): all tiles when a
// client joins, then the tiles that changed, in "kpis" frames (protocol
// v1). Protocol v2 clients subscribe to the channel "kpi", whose keys are
// the tile ids. The KPI page is /kpi/ (web/kpi.html, kpi.js, kpi.css).

// KPIFrame is the websocket frame of KPI tiles.
type KPIFrame struct {
	Type     string       `json:"type"` // "kpis"
	ServerMs int64        `json:"server_ms"`
	Full     bool         `json:"full"` // every tile (on join), or only those that changed
	Tiles    []event.Tile `json:"tiles"`
}

// KPIResponse is the body of GET /api/kpis.
type KPIResponse struct {
	ServerMs int64        `json:"server_ms"`
	Tiles    []event.Tile `json:"tiles"`
}

// kpiStore holds the newest tile per id and the clients of the kpi
// channel. Its zero value is ready to use.
type kpiStore struct {
	mu      sync.Mutex // also orders snapshots before deltas for a joining client
	tiles   map[string]event.Tile
	pending map[string]struct{}
	subs    map[*client]struct{}
}

func (k *kpiStore) init() {
	if k.tiles == nil {
		k.tiles, k.pending, k.subs = map[string]event.Tile{}, map[string]struct{}{}, map[*client]struct{}{}
	}
}

func (k *kpiStore) put(t event.Tile) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	k.tiles[t.ID] = t
	k.pending[t.ID] = struct{}{}
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

// followKPIs keeps the store up to date from the tiles topic, and pushes
// changes to websocket clients every flush interval.
func (s *Service) followKPIs(ctx context.Context) error {
	go func() {
		t := time.NewTicker(s.cfg.FlushInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.flushKPIs()
			}
		}
	}()
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
				s.kpis.put(t)
				// Protocol v2: the kpi channel, key = tile id (docs/websocket.md).
				if c := s.v2.channel("kpi", false); c != nil {
					c.setRaw(t.ID, m.Value)
				}
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

// flushKPIs sends the tiles that changed to every client.
func (s *Service) flushKPIs() {
	k := &s.kpis
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.pending) == 0 {
		return
	}
	f := KPIFrame{Type: "kpis", ServerMs: time.Now().UnixMilli()}
	for id := range k.pending {
		f.Tiles = append(f.Tiles, k.tiles[id])
	}
	clear(k.pending)
	sortTiles(f.Tiles)
	buf, err := json.Marshal(f)
	if err != nil {
		return
	}
	for c := range k.subs {
		if !c.send(buf) {
			delete(k.subs, c)
			s.m.slowClients.Inc()
			c.close("slow consumer: send queue full")
		}
	}
}

// wantsKPIs reports whether a websocket request asked for the kpi channel
// (?channel=kpi or ?channels=wall,kpi); the access policy has already
// checked that its principal may see it.
func wantsKPIs(r *http.Request) bool {
	q := r.URL.Query()
	for _, v := range append(q["channel"], q["channels"]...) {
		for _, c := range strings.Split(v, ",") {
			if strings.TrimSpace(c) == "kpi" {
				return true
			}
		}
	}
	return false
}

// joinKPIs subscribes a client that asked for the kpi channel and sends it
// every tile.
func (s *Service) joinKPIs(c *client, r *http.Request) {
	if !wantsKPIs(r) {
		return
	}
	k := &s.kpis
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	k.subs[c] = struct{}{}
	buf, err := json.Marshal(KPIFrame{Type: "kpis", ServerMs: time.Now().UnixMilli(), Full: true, Tiles: k.all()})
	if err == nil && !c.send(buf) {
		c.close("slow consumer: send queue full")
	}
}

// leaveKPIs forgets a client that went away.
func (s *Service) leaveKPIs(c *client) {
	s.kpis.mu.Lock()
	delete(s.kpis.subs, c)
	s.kpis.mu.Unlock()
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
