package dashboard

import (
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// wallMetric is the latest value of one metric.
type wallMetric struct {
	V *float64 `json:"v,omitempty"`
	S string   `json:"s,omitempty"`
	B *bool    `json:"b,omitempty"`
	U string   `json:"u,omitempty"`
	T int64    `json:"t"` // observation time, ms
}

// devLive is a registered device's live state (d/<device>).
type devLive struct {
	Status string                `json:"status,omitempty"` // online, stale, offline (stream monitor)
	Cause  string                `json:"cause,omitempty"`
	Since  int64                 `json:"since,omitempty"`
	Last   int64                 `json:"last,omitempty"` // receive time of the newest measured reading
	M      map[string]wallMetric `json:"m"`
}

// statusEntry is the status entry of a device channel.
func (d *devLive) statusEntry() map[string]any {
	return map[string]any{"status": d.Status, "cause": d.Cause, "at": d.Since, "last_seen": d.Last}
}

// mapState is how the wall's map classes a device (app.js deviceState,
// alerts aside), so that the partner cards count what the map shows: the
// monitor's offline or stale first; then a last reading older than three
// reporting intervals is stale; a recent one is online even before the
// monitor's first status; nothing yet is online only if the monitor says so.
func (d *devLive) mapState(nowMs int64, intervalS int) string {
	if d == nil {
		return ""
	}
	if d.Status == event.StatusOffline || d.Status == event.StatusStale {
		return d.Status
	}
	if intervalS <= 0 {
		intervalS = 60
	}
	switch {
	case d.Last > 0 && nowMs-d.Last > 3*int64(intervalS)*1000:
		return event.StatusStale
	case d.Last > 0 || d.Status == event.StatusOnline:
		return event.StatusOnline
	}
	return ""
}

const maxMetricsPerDevice = 32

// deviceStates holds the live state of the registered devices: the latest
// value of each metric (at most maxMetricsPerDevice), the newest reading's
// receive time and the stream monitor's status; and which devices changed
// since the wall last sent them. Which devices are registered is the
// caller's (registryView): it tracks and forgets them. It is not safe for
// concurrent use (the wall model holds its lock); now is its clock.
type deviceStates struct {
	now   func() time.Time
	devs  map[string]*devLive
	dirty map[string]struct{}
}

func newDeviceStates(now func() time.Time) *deviceStates {
	return &deviceStates{now: now, devs: map[string]*devLive{}, dirty: map[string]struct{}{}}
}

// track starts holding a device's state (empty, sent with the next
// changed) if it is not held yet.
func (s *deviceStates) track(id string) {
	if s.devs[id] == nil {
		s.devs[id] = &devLive{M: map[string]wallMetric{}}
		s.dirty[id] = struct{}{}
	}
}

// forget drops a device's state.
func (s *deviceStates) forget(id string) {
	delete(s.devs, id)
	delete(s.dirty, id)
}

// get returns a device's state, nil if not held.
func (s *deviceStates) get(id string) *devLive { return s.devs[id] }

// reading applies a reading of a registered device; latest is true when
// it became the metric's latest value m (older observations than the one
// held, and new metrics beyond the bound, are not kept).
func (s *deviceStates) reading(r *event.Reading) (m wallMetric, latest bool) {
	s.track(r.DeviceID)
	d := s.devs[r.DeviceID]
	if !r.Derived && r.ReceivedMs > d.Last {
		d.Last = r.ReceivedMs
		s.dirty[r.DeviceID] = struct{}{}
	}
	old, seen := d.M[r.Metric]
	if seen && old.T > r.ObservedMs || !seen && len(d.M) >= maxMetricsPerDevice {
		return wallMetric{}, false
	}
	m = metricOf(r)
	d.M[r.Metric] = m
	s.dirty[r.DeviceID] = struct{}{}
	return m, true
}

func metricOf(r *event.Reading) wallMetric {
	m := wallMetric{U: r.Unit, T: r.ObservedMs}
	switch r.Kind {
	case event.KindNumber:
		v := r.Value
		m.V = &v
		if r.Derived {
			m.S = r.String // vn_aqi: the dominant pollutant
		}
	case event.KindString:
		m.S = r.String
	case event.KindBool:
		b := r.Bool
		m.B = &b
	}
	return m
}

// status applies the stream monitor's status of a device it holds; nil
// when the device is not held or the status is older than the one held.
func (s *deviceStates) status(st *event.DeviceStatus) *devLive {
	d := s.devs[st.DeviceID]
	if d == nil || st.AtMs < d.Since {
		return nil
	}
	d.Status, d.Cause, d.Since = st.Status, st.Cause, st.AtMs
	d.Last = max(d.Last, st.LastSeenMs)
	s.dirty[st.DeviceID] = struct{}{}
	return d
}

// changed calls set with every device that changed since the last call.
func (s *deviceStates) changed(set func(id string, d *devLive)) {
	for id := range s.dirty {
		if d := s.devs[id]; d != nil {
			set(id, d)
		}
	}
	clear(s.dirty)
}

// deviceCounts is how many of a partner's registered devices the map shows
// in each state.
type deviceCounts struct{ Online, Stale, Offline, Unknown, Total int }

// counts counts each partner's registered devices by map state (mapState)
// now.
func (s *deviceStates) counts(reg *registryView) map[string]deviceCounts {
	nowMs := s.now().UnixMilli()
	out := map[string]deviceCounts{}
	reg.each(func(id string, m devMeta) {
		c := out[m.Partner]
		c.Total++
		switch s.devs[id].mapState(nowMs, m.Interval) {
		case event.StatusOnline:
			c.Online++
		case event.StatusStale:
			c.Stale++
		case event.StatusOffline:
			c.Offline++
		default:
			c.Unknown++
		}
		out[m.Partner] = c
	})
	return out
}
