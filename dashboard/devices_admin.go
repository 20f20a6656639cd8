package dashboard

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// deviceBook is what the admin page's device section reads: the registry
// in force and the newest record of every device (retired ones too), as
// the dashboard follows the registry topic (followRegistry).
type deviceBook struct {
	mu      sync.Mutex
	overlay *registry.Overlay
	changed chan struct{} // closed and replaced at every record
}

func newDeviceBook(file *registry.Registry) *deviceBook {
	return &deviceBook{overlay: registry.NewOverlay(file), changed: make(chan struct{})}
}

func (b *deviceBook) record(r registry.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.overlay.Apply(r)
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *deviceBook) current(id string) (registry.Record, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.overlay.Current(id)
}

// waitFor waits until the book holds version v of device id (the change
// went round Kafka), at most until the deadline.
func (b *deviceBook) waitFor(id string, v int64, deadline time.Time) bool {
	for {
		b.mu.Lock()
		r, ok := b.overlay.Record(id)
		ch := b.changed
		b.mu.Unlock()
		if ok && r.Version >= v {
			return true
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			return false
		}
	}
}

// adminDevice is one row of GET /api/admin/devices.
type adminDevice struct {
	registry.Record
	InMaintenance bool `json:"in_maintenance"`
}

func (b *deviceBook) list(nowMs int64) []adminDevice {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := map[string]bool{}
	var out []adminDevice
	for _, d := range b.overlay.Registry().Devices() {
		r, _ := b.overlay.Current(d.ID)
		in, _ := d.InMaintenance(nowMs)
		out = append(out, adminDevice{Record: r, InMaintenance: in})
		seen[d.ID] = true
	}
	for _, r := range b.overlay.Records() {
		if !seen[r.ID] {
			out = append(out, adminDevice{Record: r})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Retired != out[j].Retired {
			return !out[i].Retired
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// deviceRoutes are the admin API of the device registry (admin only: the
// access policy guards /api/admin/). Changes go to the registry topic
// through the dashboard's Kafka producer, never to ClickHouse: the
// dashboard's ClickHouse account keeps no write on the data database
// (docs/security.md, "Device registry changes").
func (s *Service) deviceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/admin/devices", func(w http.ResponseWriter, r *http.Request) {
		writeWallJSON(w, http.StatusOK, map[string]any{"server_ms": time.Now().UnixMilli(), "types": registry.DeviceTypes,
			"devices": s.devices.list(time.Now().UnixMilli())})
	})
	mux.HandleFunc("POST /api/admin/devices", func(w http.ResponseWriter, r *http.Request) { s.serveDeviceChange(w, r, registry.OpAdd) })
	mux.HandleFunc("PUT /api/admin/devices/{id}", func(w http.ResponseWriter, r *http.Request) { s.serveDeviceChange(w, r, registry.OpEdit) })
	mux.HandleFunc("POST /api/admin/devices/{id}/retire", func(w http.ResponseWriter, r *http.Request) { s.serveDeviceChange(w, r, registry.OpRetire) })
}

// deviceChangeBody is the body of an add, edit or retire.
type deviceChangeBody struct {
	registry.Record
	// BaseVersion is the version the admin page showed (0: no check).
	BaseVersion int64 `json:"base_version"`
}

func (s *Service) serveDeviceChange(w http.ResponseWriter, r *http.Request, op string) {
	p, _ := auth.FromContext(r.Context())
	var body deviceChangeBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil && !(op == registry.OpRetire && errors.Is(err, io.EOF)) {
		writeWallJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request body: " + err.Error()})
		return
	}
	rec := body.Record
	if id := r.PathValue("id"); id != "" {
		if rec.ID != "" && rec.ID != id {
			writeWallJSON(w, http.StatusBadRequest, map[string]string{"error": "device_id in the body is not the one in the path"})
			return
		}
		rec.ID = id
	}
	rec.ID = strings.TrimSpace(rec.ID)
	ed := &registry.Editor{Kafka: s.kafka, Writer: s.kafkaWriter(), Audit: s.auth.Audit(), Service: "dashboard", Source: registry.SourceAdmin,
		Current: s.devices.current, Now: time.Now}
	out, err := ed.Apply(r.Context(), op, rec, body.BaseVersion,
		registry.Who{Actor: p.Name, Role: string(p.Role), Remote: s.auth.ClientIP(r), UserAgent: r.UserAgent()})
	switch {
	case errors.Is(err, registry.ErrInvalid):
		writeWallJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, registry.ErrExists), errors.Is(err, registry.ErrConflict):
		writeWallJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case errors.Is(err, registry.ErrNotFound):
		writeWallJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		writeWallJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		// Answer once the change came back from Kafka: the next listing
		// shows it, and so does the wall.
		applied := s.devices.waitFor(out.ID, out.Version, time.Now().Add(10*time.Second))
		writeWallJSON(w, http.StatusOK, map[string]any{"device": out, "applied": applied})
	}
}
