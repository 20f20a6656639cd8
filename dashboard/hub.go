package dashboard

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// Frame is what the wall receives over the websocket. The first frame of a
// connection is a "snapshot" of the latest value per device and metric;
// after it come "readings" frames with what changed since the last frame.
type Frame struct {
	Type     string          `json:"type"`
	ServerMs int64           `json:"server_ms"`
	Readings []event.Reading `json:"readings"`
}

// encodeFrame writes what json.Marshal writes for f, the readings through
// the event codec: encoding/json's reflection was a fifth of the
// dashboard's CPU (docs/performance.md).
func encodeFrame(f *Frame) ([]byte, error) {
	if f.Readings == nil {
		return json.Marshal(f)
	}
	b := make([]byte, 0, 64+300*len(f.Readings))
	b = append(b, `{"type":`...)
	t, err := json.Marshal(f.Type)
	if err != nil {
		return nil, err
	}
	b = append(b, t...)
	b = append(b, `,"server_ms":`...)
	b = strconv.AppendInt(b, f.ServerMs, 10)
	b = append(b, `,"readings":[`...)
	for i := range f.Readings {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = event.AppendReading(b, &f.Readings[i]); err != nil {
			return nil, err
		}
	}
	return append(b, "]}"...), nil
}

// hub keeps the latest reading per device and metric and fans changes out
// to every client, encoding each frame once.
type hub struct {
	mu      sync.Mutex
	latest  map[key]event.Reading
	pending map[key]struct{}
	clients map[*client]struct{}
	maxKeys int
	m       *metrics
}

type key struct{ device, metric string }

func newHub(maxKeys int, m *metrics) *hub {
	return &hub{latest: map[key]event.Reading{}, pending: map[key]struct{}{}, clients: map[*client]struct{}{}, maxKeys: maxKeys, m: m}
}

// update records a reading if it is newer than what the hub holds.
func (h *hub) update(r event.Reading) {
	k := key{r.DeviceID, r.Metric}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.latest[k]; ok {
		if old.ObservedMs > r.ObservedMs {
			return
		}
	} else if len(h.latest) >= h.maxKeys {
		h.m.droppedKeys.Inc()
		return // bounded: a flood of new device ids cannot grow memory
	}
	h.latest[k] = r
	h.pending[k] = struct{}{}
}

// join registers a client and queues its snapshot, under the lock so that
// no change falls between the snapshot and the first delta.
func (h *hub) join(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := Frame{Type: "snapshot", ServerMs: time.Now().UnixMilli(), Readings: make([]event.Reading, 0, len(h.latest))}
	for _, r := range h.latest {
		f.Readings = append(f.Readings, r)
	}
	sort.Slice(f.Readings, func(i, j int) bool {
		a, b := f.Readings[i], f.Readings[j]
		return a.DeviceID < b.DeviceID || a.DeviceID == b.DeviceID && a.Metric < b.Metric
	})
	buf, err := encodeFrame(&f)
	if err != nil || !c.send(buf) {
		return false
	}
	h.clients[c] = struct{}{}
	h.m.clients.Set(float64(len(h.clients)))
	return true
}

func (h *hub) leave(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.m.clients.Set(float64(len(h.clients)))
	h.mu.Unlock()
}

// snapshot copies the latest readings.
func (h *hub) snapshot() []event.Reading {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]event.Reading, 0, len(h.latest))
	for _, r := range h.latest {
		out = append(out, r)
	}
	return out
}

// flush sends what changed since the last flush to every client; a client
// whose queue is full is disconnected as slow instead of stalling the rest.
func (h *hub) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.pending) == 0 {
		return
	}
	f := Frame{Type: "readings", ServerMs: time.Now().UnixMilli(), Readings: make([]event.Reading, 0, len(h.pending))}
	for k := range h.pending {
		f.Readings = append(f.Readings, h.latest[k])
	}
	clear(h.pending)
	buf, err := encodeFrame(&f)
	if err != nil {
		return
	}
	h.m.frames.Inc()
	for c := range h.clients {
		if !c.send(buf) {
			delete(h.clients, c)
			h.m.slowClients.Inc()
			c.close("slow consumer: send queue full")
		}
	}
	h.m.clients.Set(float64(len(h.clients)))
}

// run flushes on a fixed interval until ctx ends.
func (h *hub) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.flush()
		}
	}
}
