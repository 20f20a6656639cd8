package dashboard

import (
	"sort"
	"sync"

	"github.com/sonla-ioc/ioc/internal/event"
)

// LatestResponse is the body of GET /api/latest: the newest reading of
// every device and metric the dashboard holds, registered or not.
type LatestResponse struct {
	Type     string          `json:"type"` // "snapshot"
	ServerMs int64           `json:"server_ms"`
	Readings []event.Reading `json:"readings"`
}

// latestReadings keeps the newest reading per device and metric, bounded
// by dashboard.max_keys, for GET /api/latest. The websocket carries the
// wall model (wall.go) instead.
type latestReadings struct {
	mu      sync.Mutex
	latest  map[seriesKey]event.Reading
	maxKeys int
	m       *metrics
}

type seriesKey struct{ device, metric string }

func newLatestReadings(maxKeys int, m *metrics) *latestReadings {
	return &latestReadings{latest: map[seriesKey]event.Reading{}, maxKeys: maxKeys, m: m}
}

// update records a reading if it is newer than what is held.
func (l *latestReadings) update(r event.Reading) {
	k := seriesKey{r.DeviceID, r.Metric}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.latest[k]; ok {
		if old.ObservedMs > r.ObservedMs {
			return
		}
	} else if len(l.latest) >= l.maxKeys {
		l.m.droppedKeys.Inc()
		return // bounded: a flood of new device ids cannot grow memory
	}
	l.latest[k] = r
}

// snapshot copies the latest readings, by device and metric.
func (l *latestReadings) snapshot() []event.Reading {
	l.mu.Lock()
	out := make([]event.Reading, 0, len(l.latest))
	for _, r := range l.latest {
		out = append(out, r)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.DeviceID < b.DeviceID || a.DeviceID == b.DeviceID && a.Metric < b.Metric
	})
	return out
}
