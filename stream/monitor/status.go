package monitor

import (
	"sort"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// Tracker derives the status of every registered device and of every
// partner feed from the receive time of their last reading. It is pure
// state: the monitor feeds it readings and the clock and publishes the
// changes it returns. Change times are computed from the data (last
// reading + threshold), not from when the tick ran, so the same input
// gives the same change ids.
type Tracker struct {
	cfg     StatusConfig
	started int64
	devices map[string]*devState
	feeds   map[string]*feedState
}

type devState struct {
	dev      *registry.Device
	lastSeen int64 // receive time of the newest reading, ms; 0 = never
	status   string
	since    int64
}

type feedState struct {
	partner  string
	lastSeen int64
	devices  []*devState
	status   string
	since    int64
}

// NewTracker tracks the devices of a registry from startMs (a device never
// heard of is offline once the offline threshold has passed since start).
func NewTracker(cfg StatusConfig, reg *registry.Registry, startMs int64) *Tracker {
	t := &Tracker{cfg: cfg, started: startMs, devices: map[string]*devState{}, feeds: map[string]*feedState{}}
	t.SetRegistry(reg)
	return t
}

// SetRegistry replaces the registry, keeping what is known of devices that
// stay.
func (t *Tracker) SetRegistry(reg *registry.Registry) {
	old := t.devices
	t.devices = make(map[string]*devState, reg.Len())
	for _, f := range t.feeds {
		f.devices = f.devices[:0]
	}
	for _, d := range reg.Devices() {
		st := old[d.ID]
		if st == nil || st.dev.Partner != d.Partner {
			st = &devState{}
		}
		st.dev = d
		t.devices[d.ID] = st
		t.feed(d.Partner).devices = append(t.feed(d.Partner).devices, st)
	}
}

func (t *Tracker) feed(partner string) *feedState {
	f := t.feeds[partner]
	if f == nil {
		f = &feedState{partner: partner}
		t.feeds[partner] = f
	}
	return f
}

// Restore sets what ClickHouse knows: the last status of a device or feed
// and the receive time of the newest reading.
func (t *Tracker) Restore(kind, partner, device, status string, since int64) {
	switch kind {
	case event.SubjectDevice:
		if d := t.devices[device]; d != nil && d.dev.Partner == partner {
			d.status, d.since = status, since
		}
	case event.SubjectFeed:
		if f := t.feeds[partner]; f != nil {
			f.status, f.since = status, since
		}
	}
}

// RestoreSeen sets the receive time of a device's newest reading.
func (t *Tracker) RestoreSeen(partner, device string, lastSeen int64) {
	if d := t.devices[device]; d != nil && d.dev.Partner == partner {
		d.lastSeen = max(d.lastSeen, lastSeen)
	}
	if f := t.feeds[partner]; f != nil {
		f.lastSeen = max(f.lastSeen, lastSeen)
	}
}

// Seen records a reading received at rtMs and returns the changes it
// causes: its device back online, its feed live again.
func (t *Tracker) Seen(partner, device string, rtMs int64) []event.DeviceStatus {
	var out []event.DeviceStatus
	if f := t.feeds[partner]; f != nil {
		f.lastSeen = max(f.lastSeen, rtMs)
		// A replayed reading from before the current status changes nothing.
		if f.status != event.StatusLive && rtMs > f.since {
			out = append(out, t.setFeed(f, event.StatusLive, rtMs, "reading"))
		}
	}
	d := t.devices[device]
	if d == nil || d.dev.Partner != partner {
		return out // unregistered: the feed counts it, the wall lists it
	}
	d.lastSeen = max(d.lastSeen, rtMs)
	if d.status != event.StatusOnline && rtMs > d.since {
		out = append(out, t.setDevice(d, event.StatusOnline, rtMs, "reading"))
	}
	return out
}

// thresholds of a device: late after stale, offline after offline (ms).
func (t *Tracker) thresholds(d *registry.Device) (stale, offline int64) {
	iv := float64(d.Interval.Milliseconds())
	stale = int64(t.cfg.StaleAfter * iv)
	offline = max(int64(t.cfg.OfflineAfter*iv), t.cfg.MinOffline.Milliseconds(), stale+1)
	return stale, offline
}

// want is the status a device should have at nowMs, and since when.
func (t *Tracker) want(d *devState, nowMs int64) (string, int64) {
	stale, offline := t.thresholds(d.dev)
	if d.lastSeen == 0 {
		if nowMs-t.started >= offline {
			return event.StatusOffline, t.started + offline
		}
		return d.status, d.since // not heard of yet: wait out the threshold
	}
	age := nowMs - d.lastSeen
	switch {
	case age <= stale:
		return event.StatusOnline, d.lastSeen
	case age <= offline:
		return event.StatusStale, d.lastSeen + stale
	default:
		return event.StatusOffline, d.lastSeen + offline
	}
}

// Tick evaluates time-driven changes at nowMs: devices late or offline,
// feeds silent.
func (t *Tracker) Tick(nowMs int64) []event.DeviceStatus {
	var out []event.DeviceStatus
	type change struct {
		d      *devState
		status string
		at     int64
	}
	var changes []change
	for _, d := range t.devices {
		if s, at := t.want(d, nowMs); s != d.status && s != "" {
			changes = append(changes, change{d, s, at})
		}
	}
	// Feeds first, so that devices going offline with their whole feed
	// carry that cause.
	for _, f := range t.sortedFeeds() {
		if len(f.devices) == 0 {
			continue
		}
		silent, at := t.feedSilent(f, nowMs)
		switch {
		case silent && f.status != event.StatusSilent:
			out = append(out, t.setFeed(f, event.StatusSilent, at, "silent"))
		case !silent && f.status == "":
			out = append(out, t.setFeed(f, event.StatusLive, max(f.lastSeen, t.started), "start"))
		case !silent && f.status == event.StatusSilent && f.lastSeen > f.since:
			out = append(out, t.setFeed(f, event.StatusLive, f.lastSeen, "reading"))
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		if changes[i].at != changes[j].at {
			return changes[i].at < changes[j].at
		}
		return changes[i].d.dev.ID < changes[j].d.dev.ID
	})
	for _, c := range changes {
		cause := "reading"
		switch c.status {
		case event.StatusStale:
			cause = "late"
		case event.StatusOffline:
			cause = "silent"
			if f := t.feeds[c.d.dev.Partner]; f != nil && f.status == event.StatusSilent && f.since <= c.at {
				cause = "feed_silent"
			}
		}
		out = append(out, t.setDevice(c.d, c.status, c.at, cause))
	}
	return out
}

// feedSilent: no device of the partner online and nothing from the
// partner for feed_silent_after. at is when both became true.
func (t *Tracker) feedSilent(f *feedState, nowMs int64) (bool, int64) {
	quiet := f.lastSeen + t.cfg.FeedSilentAfter.Milliseconds()
	if f.lastSeen == 0 {
		quiet = t.started + t.cfg.FeedSilentAfter.Milliseconds()
	}
	if nowMs < quiet {
		return false, 0
	}
	at := quiet
	for _, d := range f.devices {
		s, since := t.want(d, nowMs)
		if s == event.StatusOnline || s == "" {
			return false, 0
		}
		if s == event.StatusStale || s == event.StatusOffline {
			stale, _ := t.thresholds(d.dev)
			lateAt := d.lastSeen + stale
			if d.lastSeen == 0 {
				lateAt = since
			}
			at = max(at, lateAt)
		}
	}
	return true, at
}

func (t *Tracker) sortedFeeds() []*feedState {
	out := make([]*feedState, 0, len(t.feeds))
	for _, f := range t.feeds {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].partner < out[j].partner })
	return out
}

func (t *Tracker) setDevice(d *devState, status string, at int64, cause string) event.DeviceStatus {
	ev := event.DeviceStatus{
		ID: event.StatusID(event.SubjectDevice, d.dev.Partner, d.dev.ID, status, at), Kind: event.SubjectDevice,
		DeviceID: d.dev.ID, Partner: d.dev.Partner, Type: d.dev.Type, Ward: d.dev.Ward, Status: status, Previous: d.status,
		Cause: cause, AtMs: at, LastSeenMs: d.lastSeen, IntervalS: int32(d.dev.Interval / time.Second),
	}
	d.status, d.since = status, at
	return ev
}

func (t *Tracker) setFeed(f *feedState, status string, at int64, cause string) event.DeviceStatus {
	ev := event.DeviceStatus{
		ID: event.StatusID(event.SubjectFeed, f.partner, "", status, at), Kind: event.SubjectFeed, Partner: f.partner,
		Status: status, Previous: f.status, Cause: cause, AtMs: at, LastSeenMs: f.lastSeen,
	}
	f.status, f.since = status, at
	return ev
}

// DeviceStatus is the current status of a registered device ("" if not
// registered or not yet known).
func (t *Tracker) DeviceStatus(device string) string {
	if d := t.devices[device]; d != nil {
		return d.status
	}
	return ""
}

// FeedStatus is the current status of a partner's feed.
func (t *Tracker) FeedStatus(partner string) string {
	if f := t.feeds[partner]; f != nil {
		return f.status
	}
	return ""
}

// Device is the registry entry of a device, or nil.
func (t *Tracker) Device(id string) *registry.Device {
	if d := t.devices[id]; d != nil {
		return d.dev
	}
	return nil
}

// Counts is the number of registered devices per status.
func (t *Tracker) Counts() map[string]int {
	out := map[string]int{}
	for _, d := range t.devices {
		s := d.status
		if s == "" {
			s = "unknown"
		}
		out[s]++
	}
	return out
}
