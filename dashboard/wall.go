package dashboard

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// The wall channel (protocol v2) carries what the control-room wall shows,
// bounded by the registry, never by the fleet: one entry per key below.
//
//	meta            registry version, device count, water stages
//	g/<device>      registry entry: partner, type, ward, name, position, interval
//	d/<device>      live state: status from the stream's monitor, last
//	                reading time, latest value of each metric (≤ 32)
//	f/<partner>     feed health: status, last message, readings and dead
//	                letters per minute (5-minute window), devices by status
//	p               pipeline health: ClickHouse reachable and how fresh,
//	                newest reading seen, dead letters per minute, stream lag
//	u/<device>      an unregistered device that reports (the newest
//	                max_unregistered)
//	t/<series>/<ms> a minute of a trend (avg, max, n) within trend_window
//
// The alerts channel holds a/<alert id> → the alert's latest transition,
// resolved alerts for resolved_keep. device:<id> channels hold m/<metric>
// and status for one device.
//
// wallState holds the registry view and each device's live state, and
// puts the parts on the channels; each part has its own type and tests:
// feedRates (feedrates.go: readings and dead letters per partner),
// countDevices (the partner cards), trends (trends.go), alertBook
// (alertbook.go), unregistered (unregistered.go), deviceChans
// (devchans.go). The topic grammar is internal/event's.

// devMeta is a registry entry as the wall shows it.
type devMeta struct {
	Partner  string  `json:"p"`
	Type     string  `json:"type"`
	Ward     string  `json:"ward"`
	Name     string  `json:"name"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	Interval int     `json:"iv"` // expected reporting interval, seconds
	// MaintTo is the end (unix ms) of the maintenance window the device
	// is in now, 0 when none: the wall shows it as under maintenance.
	MaintTo int64 `json:"mt,omitempty"`
}

// wallMetric is the latest value of one metric.
type wallMetric struct {
	V *float64 `json:"v,omitempty"`
	S string   `json:"s,omitempty"`
	B *bool    `json:"b,omitempty"`
	U string   `json:"u,omitempty"`
	T int64    `json:"t"` // observation time, ms
}

// devLive is a registered device's live state.
type devLive struct {
	Status string                `json:"status,omitempty"` // online, stale, offline (stream monitor)
	Cause  string                `json:"cause,omitempty"`
	Since  int64                 `json:"since,omitempty"`
	Last   int64                 `json:"last,omitempty"` // receive time of the newest measured reading
	M      map[string]wallMetric `json:"m"`
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

// deviceCounts is how many of a partner's registered devices the map shows
// in each state.
type deviceCounts struct{ Online, Stale, Offline, Unknown, Total int }

// countDevices counts each partner's registered devices by map state
// (mapState) at nowMs.
func countDevices(reg map[string]devMeta, devs map[string]*devLive, nowMs int64) map[string]deviceCounts {
	out := map[string]deviceCounts{}
	for id, m := range reg {
		c := out[m.Partner]
		c.Total++
		switch devs[id].mapState(nowMs, m.Interval) {
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
	}
	return out
}

type unregLive struct {
	Partner string   `json:"p"`
	First   int64    `json:"first"`
	Last    int64    `json:"last"`
	N       int64    `json:"n"`
	Metrics []string `json:"m"`
}

type feedLive struct {
	Status  string  `json:"status,omitempty"` // live, silent (stream monitor)
	Since   int64   `json:"since,omitempty"`
	Last    int64   `json:"last,omitempty"` // newest message received, ms
	Rate    float64 `json:"rate"`           // readings per minute
	DL      float64 `json:"dl"`             // dead letters per minute
	DLPct   float64 `json:"dl_pct"`         // dead letters / (readings + dead letters), %
	Online  int     `json:"online"`
	Stale   int     `json:"stale"`
	Offline int     `json:"offline"`
	Unknown int     `json:"unknown"`
	Total   int     `json:"total"`
}

type pipelineLive struct {
	CHUp      bool    `json:"ch_up"`
	CHMs      int64   `json:"ch_ms"`      // ping round trip
	StoredMs  int64   `json:"stored_ms"`  // newest receive time in ClickHouse
	LiveMs    int64   `json:"live_ms"`    // newest receive time the wall saw
	DL        float64 `json:"dl"`         // dead letters per minute, all partners
	StreamLag float64 `json:"stream_lag"` // stream consumer lag (records), -1 unknown
	CheckedMs int64   `json:"checked_ms"`
}

type trendBucket struct {
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
	N   int64   `json:"n"`
	sum float64
}

// trendSeries is one trend of the wall: the readings of these metrics from
// every device, averaged and maxed per minute. /api/history computes the
// same from ClickHouse, so history and live points are one series.
type trendSeries struct {
	ID      string   `json:"id"`
	Label   string   `json:"label"`
	Unit    string   `json:"unit"`
	Metrics []string `json:"metrics"`
	Derived bool     `json:"-"` // vn_aqi: the pipeline's derived readings only
}

var trendSeriesList = []trendSeries{
	{ID: "aqi", Label: "VN_AQI", Unit: "VN_AQI", Metrics: []string{event.MetricVNAQI}, Derived: true},
	{ID: "water", Label: "Mực nước", Unit: "m", Metrics: []string{"level", "water_level"}},
	{ID: "rain", Label: "Lượng mưa", Unit: "mm/h", Metrics: []string{"rain", "rainfall"}},
	{ID: "traffic", Label: "Lưu lượng xe", Unit: "xe/phút", Metrics: []string{"vehicles", "vehicle_count"}},
}

func seriesOf(r *event.Reading) *trendSeries {
	if r.Kind != event.KindNumber {
		return nil
	}
	for i := range trendSeriesList {
		s := &trendSeriesList[i]
		if slices.Contains(s.Metrics, r.Metric) && s.Derived == r.Derived {
			return s
		}
	}
	return nil
}

const maxMetricsPerDevice = 32

// wallState is the model behind the wall, alerts and device channels.
type wallState struct {
	cfg     WallConfig
	h       *v2hub
	wall    *channel
	alerts  *channel
	maxKeys int
	now     func() time.Time

	mu         sync.Mutex
	reg        map[string]devMeta
	regVersion string
	devs       map[string]*devLive
	dirty      map[string]struct{}
	unreg      *unregistered // devices that report unregistered (unregistered.go)
	feeds      map[string]*feedLive
	rates      *feedRates // readings and dead letters per partner (feedrates.go)
	trends     *trends    // the trend minutes (trends.go)
	alertBook  *alertBook // which alerts the wall shows (alertbook.go)
	pipeline   pipelineLive
	devChans   *deviceChans // open device:<id> channels (devchans.go)
	// maint holds the maintenance windows of the devices that have some.
	maint map[string][]registry.Window
}

func newWallState(cfg WallConfig, h *v2hub, maxKeys int) *wallState {
	w := &wallState{cfg: cfg, h: h, wall: h.channels["wall"], alerts: h.channels["alerts"], maxKeys: maxKeys, now: time.Now,
		reg: map[string]devMeta{}, devs: map[string]*devLive{}, dirty: map[string]struct{}{},
		unreg: newUnregistered(cfg.MaxUnregistered), feeds: map[string]*feedLive{}, pipeline: pipelineLive{StreamLag: -1},
		devChans: newDeviceChans(cfg.MaxDeviceChannels), maint: map[string][]registry.Window{}}
	w.rates = newFeedRates(func() time.Time { return w.now() }, 64)
	w.alertBook = newAlertBook(func() time.Time { return w.now() }, cfg.MaxAlerts, cfg.ResolvedKeep)
	w.trends = newTrends(func() time.Time { return w.now() }, cfg.TrendWindow, maxKeys)
	h.device, h.devices = w.deviceChannel, w.deviceChannels
	w.wall.set("meta", w.meta())
	return w
}

func (w *wallState) meta() map[string]any {
	series := make([]map[string]string, 0, len(trendSeriesList))
	for _, s := range trendSeriesList {
		series = append(series, map[string]string{"id": s.ID, "label": s.Label, "unit": s.Unit})
	}
	// registry_loading: no registry known yet (neither file nor ClickHouse):
	// the wall cannot tell registered devices from unregistered ones.
	return map[string]any{"registry": w.regVersion, "registry_loading": w.regVersion == "", "devices": len(w.reg), "water_stages": w.cfg.WaterStages,
		"trend_window_ms": w.cfg.TrendWindow.Milliseconds(), "series": series}
}

// setRegistry replaces the registry (the file's, then the live one from
// the registry topic).
func (w *wallState) setRegistry(devs []*registry.Device, version string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if version == w.regVersion && version != "" {
		return
	}
	nowMs := w.now().UnixMilli()
	next := make(map[string]devMeta, len(devs))
	clear(w.maint)
	for _, d := range devs {
		m := devMeta{Partner: d.Partner, Type: d.Type, Ward: d.Ward, Name: d.Name, Lat: d.Lat, Lon: d.Lon,
			Interval: int(d.Interval / time.Second)}
		if len(d.Maintenance) > 0 {
			w.maint[d.ID] = d.Maintenance
			_, m.MaintTo = d.InMaintenance(nowMs)
		}
		next[d.ID] = m
	}
	for id, m := range next {
		if old, ok := w.reg[id]; !ok || old != m {
			w.wall.set("g/"+id, m)
		}
		if w.devs[id] == nil {
			w.devs[id] = &devLive{M: map[string]wallMetric{}}
			w.dirty[id] = struct{}{}
		}
		if w.unreg.registered(id, m.Partner) {
			w.wall.del("u/" + id)
		}
	}
	for id := range w.reg {
		if _, ok := next[id]; !ok {
			w.wall.del("g/" + id)
			w.wall.del("d/" + id)
			delete(w.devs, id)
			delete(w.dirty, id)
		}
	}
	w.reg, w.regVersion = next, version
	for _, m := range next {
		w.feed(m.Partner)
	}
	w.wall.set("meta", w.meta())
}

func (w *wallState) feed(partner string) *feedLive {
	f := w.feeds[partner]
	if f == nil && len(w.feeds) < 64 {
		f = &feedLive{}
		w.feeds[partner] = f
	}
	return f
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

// seedReading takes a latest value read from ClickHouse at start: it fills
// a device's state but is not a message (no feed rate, no trend).
func (w *wallState) seedReading(r *event.Reading) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applyDevice(r)
}

// reading takes a live reading.
func (w *wallState) reading(r *event.Reading) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !r.Derived {
		w.pipeline.LiveMs = max(w.pipeline.LiveMs, r.ReceivedMs)
		if f := w.feed(r.Partner); f != nil {
			f.Last = max(f.Last, r.ReceivedMs)
			w.rates.reading(r.Partner)
		}
	}
	if !w.applyDevice(r) && !r.Derived {
		w.applyUnregistered(r)
	}
	w.trends.add(r)
}

// applyDevice updates a registered device; false when the device is not
// registered (to this partner).
func (w *wallState) applyDevice(r *event.Reading) bool {
	meta, ok := w.reg[r.DeviceID]
	if !ok || meta.Partner != r.Partner {
		return false
	}
	d := w.devs[r.DeviceID]
	if d == nil {
		d = &devLive{M: map[string]wallMetric{}}
		w.devs[r.DeviceID] = d
	}
	if !r.Derived {
		d.Last = max(d.Last, r.ReceivedMs)
	}
	old, seen := d.M[r.Metric]
	if seen && old.T > r.ObservedMs {
		w.dirty[r.DeviceID] = struct{}{}
		return true
	}
	if !seen && len(d.M) >= maxMetricsPerDevice {
		return true
	}
	m := metricOf(r)
	d.M[r.Metric] = m
	w.dirty[r.DeviceID] = struct{}{}
	if ch := w.devChans.get(r.DeviceID); ch != nil {
		ch.set("m/"+r.Metric, m)
	}
	return true
}

func (w *wallState) applyUnregistered(r *event.Reading) {
	if gone := w.unreg.add(r); gone != "" {
		w.wall.del("u/" + gone)
	}
}

// seedTrend sets a minute of a trend read from ClickHouse.
func (w *wallState) seedTrend(series string, bucket int64, sum, maxv float64, n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trends.seed(series, bucket, sum, maxv, n)
}

// seedLastObs records the newest observation ClickHouse counted in a
// trend for a device's metric.
func (w *wallState) seedLastObs(partner, device, metric string, ms int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.trends.seedObserved(partner, device, metric, ms)
}

// status applies a device or feed status change from the stream's monitor.
func (w *wallState) status(st *event.DeviceStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch st.Kind {
	case event.SubjectDevice:
		d := w.devs[st.DeviceID]
		if d == nil || st.AtMs < d.Since {
			return
		}
		d.Status, d.Cause, d.Since = st.Status, st.Cause, st.AtMs
		d.Last = max(d.Last, st.LastSeenMs)
		w.dirty[st.DeviceID] = struct{}{}
		if ch := w.devChans.get(st.DeviceID); ch != nil {
			ch.set("status", map[string]any{"status": d.Status, "cause": d.Cause, "at": d.Since, "last_seen": d.Last})
		}
	case event.SubjectFeed:
		if f := w.feed(st.Partner); f != nil && st.AtMs >= f.Since {
			f.Status, f.Since = st.Status, st.AtMs
			f.Last = max(f.Last, st.LastSeenMs)
		}
	}
}

// deadLetter counts a dead letter against the partner of its MQTT topic.
func (w *wallState) deadLetter(d *event.DeadLetter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	partner := "?"
	if p, ok := event.SensorTopicPartner(d.SourceTopic); ok && d.Source == "mqtt" {
		partner = p
	}
	f := w.feeds[partner]
	if f == nil {
		partner = "?"
		f = w.feed(partner)
	}
	if f != nil {
		w.rates.dead(partner)
		f.Last = max(f.Last, d.ReceivedMs)
	}
}

// alert applies an alert transition (the newest per alert wins).
func (w *wallState) alert(ev *event.AlertEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	show, evicted := w.alertBook.take(ev)
	if evicted != "" {
		w.dropAlert(evicted)
	}
	if !show {
		return
	}
	w.alerts.set("a/"+ev.AlertID, ev)
	// The wall shows its alert ticker from its own channel: a kiosk may
	// receive the wall channel only.
	w.wall.set("a/"+ev.AlertID, ev)
}

// dropAlert takes an alert the book forgot off the channels.
func (w *wallState) dropAlert(id string) {
	w.alerts.del("a/" + id)
	w.wall.del("a/" + id)
}

// openAlert returns an alert the wall holds and whether it is still open.
func (w *wallState) openAlert(id string) (event.AlertEvent, bool, bool) {
	raw, ok := w.alerts.get("a/" + id)
	if !ok {
		return event.AlertEvent{}, false, false
	}
	var ev event.AlertEvent
	if json.Unmarshal(raw, &ev) != nil {
		return event.AlertEvent{}, false, false
	}
	return ev, true, ev.State != event.AlertResolved
}

// flush moves what changed into the channels and sends the deltas.
func (w *wallState) flush() {
	w.mu.Lock()
	for id := range w.dirty {
		if d := w.devs[id]; d != nil {
			w.wall.set("d/"+id, d)
		}
	}
	clear(w.dirty)
	w.unreg.changed(func(id string, u *unregLive) { w.wall.set("u/"+id, u) })
	w.trends.changed(func(k string, b *trendBucket) { w.wall.set(k, b) })
	w.mu.Unlock()
	w.h.flush()
}

// tick recomputes the feed health and pipeline entries and forgets what
// aged out: trend minutes beyond the window, resolved alerts kept long
// enough.
func (w *wallState) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	for id, ws := range w.maint {
		// A maintenance window starts or ends: the map shows it.
		if m, ok := w.reg[id]; ok {
			_, to := (&registry.Device{Maintenance: ws}).InMaintenance(now.UnixMilli())
			if to != m.MaintTo {
				m.MaintTo = to
				w.reg[id] = m
				w.wall.set("g/"+id, m)
			}
		}
	}
	counts := countDevices(w.reg, w.devs, now.UnixMilli())
	for p, f := range w.feeds {
		c := counts[p]
		f.Online, f.Stale, f.Offline, f.Unknown, f.Total = c.Online, c.Stale, c.Offline, c.Unknown, c.Total
	}
	var dlAll float64
	for p, f := range w.feeds {
		r := w.rates.rate(p)
		f.Rate, f.DL, f.DLPct = round1(r.Readings), round1(r.Dead), round1(r.DeadPct)
		dlAll += r.Dead
		w.wall.set("f/"+p, f)
	}
	w.pipeline.DL = round1(dlAll)
	w.wall.set("p", w.pipeline)
	w.trends.expire(w.wall.del)
	w.devChans.sweep()
	w.alertBook.expire(w.dropAlert)
}

// setPipeline records what the health check found.
func (w *wallState) setPipeline(f func(p *pipelineLive)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.pipeline)
}

// deviceChannel returns the channel of one registered device, opening it
// (filled with the device's current state) when asked to.
func (w *wallState) deviceChannel(id string, open bool) *channel {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.devs[id]
	if c := w.devChans.get(id); c != nil || !open || d == nil {
		return c
	}
	return w.devChans.open(id, func(c *channel) {
		c.set("meta", w.reg[id])
		for m, v := range d.M {
			c.set("m/"+m, v)
		}
		c.set("status", map[string]any{"status": d.Status, "cause": d.Cause, "at": d.Since, "last_seen": d.Last})
	})
}

func (w *wallState) deviceChannels() []*channel {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.devChans.all()
}

// devicesList is GET /api/devices: the registry with each device's status.
func (w *wallState) devicesList() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]map[string]any, 0, len(w.reg))
	for id, m := range w.reg {
		d := w.devs[id]
		out = append(out, map[string]any{"id": id, "partner": m.Partner, "type": m.Type, "ward": m.Ward, "name": m.Name,
			"lat": m.Lat, "lon": m.Lon, "interval_s": m.Interval, "status": d.Status, "since_ms": d.Since, "last_ms": d.Last,
			"maintenance_to_ms": m.MaintTo})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
	return out
}

func round1(x float64) float64 {
	return float64(int64(x*10+0.5)) / 10
}
