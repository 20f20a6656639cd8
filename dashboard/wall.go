package dashboard

import (
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
// wallState composes the parts and puts them on the channels; each part
// has its own type and tests: registryView (regview.go: the registry as
// the wall shows it), deviceStates (devstate.go: latest values, status,
// the partner cards' counts), feedRates (feedrates.go: readings and dead
// letters per partner), trends (trends.go), alertBook (alertbook.go),
// unregistered (unregistered.go), deviceChans (devchans.go). The topic
// grammar is internal/event's.

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

// wallState is the model behind the wall, alerts and device channels.
type wallState struct {
	cfg     WallConfig
	h       *v2hub
	wall    *channel
	alerts  *channel
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	reg       *registryView // the registry (regview.go)
	devs      *deviceStates // registered devices' live state (devstate.go)
	unreg     *unregistered // devices that report unregistered (unregistered.go)
	feeds     map[string]*feedLive
	rates     *feedRates // readings and dead letters per partner (feedrates.go)
	trends    *trends    // the trend minutes (trends.go)
	alertBook *alertBook // which alerts the wall shows (alertbook.go)
	pipeline  pipelineLive
	devChans  *deviceChans // open device:<id> channels (devchans.go)
}

func newWallState(cfg WallConfig, h *v2hub, maxKeys int) *wallState {
	w := &wallState{cfg: cfg, h: h, wall: h.channels["wall"], alerts: h.channels["alerts"], maxKeys: maxKeys, now: time.Now,
		reg:   newRegistryView(),
		unreg: newUnregistered(cfg.MaxUnregistered), feeds: map[string]*feedLive{}, pipeline: pipelineLive{StreamLag: -1},
		devChans: newDeviceChans(cfg.MaxDeviceChannels)}
	clock := func() time.Time { return w.now() }
	w.devs = newDeviceStates(clock)
	w.rates = newFeedRates(clock, 64)
	w.alertBook = newAlertBook(clock, cfg.MaxAlerts, cfg.ResolvedKeep)
	w.trends = newTrends(clock, cfg.TrendWindow, maxKeys)
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
	version := w.reg.registryVersion()
	return map[string]any{"registry": version, "registry_loading": version == "", "devices": w.reg.len(), "water_stages": w.cfg.WaterStages,
		"trend_window_ms": w.cfg.TrendWindow.Milliseconds(), "series": series}
}

// setRegistry replaces the registry (the file's, then the live one from
// the registry topic).
func (w *wallState) setRegistry(devs []*registry.Device, version string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	diff, ok := w.reg.replace(devs, version, w.now().UnixMilli())
	if !ok {
		return
	}
	for _, id := range diff.Set {
		m, _ := w.reg.lookup(id)
		w.wall.set("g/"+id, m)
	}
	for _, id := range diff.Removed {
		w.wall.del("g/" + id)
		w.wall.del("d/" + id)
		w.devs.forget(id)
	}
	w.reg.each(func(id string, m devMeta) {
		w.devs.track(id)
		if w.unreg.registered(id, m.Partner) {
			w.wall.del("u/" + id)
		}
		w.feed(m.Partner)
	})
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
	if !w.reg.registeredTo(r.DeviceID, r.Partner) {
		return false
	}
	if m, latest := w.devs.reading(r); latest {
		if ch := w.devChans.get(r.DeviceID); ch != nil {
			ch.set("m/"+r.Metric, m)
		}
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
		if d := w.devs.status(st); d != nil {
			if ch := w.devChans.get(st.DeviceID); ch != nil {
				ch.set("status", d.statusEntry())
			}
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
func (w *wallState) openAlert(id string) (ev event.AlertEvent, known, open bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev, known = w.alertBook.get(id)
	return ev, known, known && ev.State != event.AlertResolved
}

// alertsList is GET /api/alerts: the transition shown of every alert the
// wall holds, by alert id.
func (w *wallState) alertsList() []event.AlertEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.alertBook.list()
}

// flush moves what changed into the channels and sends the deltas.
func (w *wallState) flush() {
	w.mu.Lock()
	w.devs.changed(func(id string, d *devLive) { w.wall.set("d/"+id, d) })
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
	for _, id := range w.reg.maintenance(w.now().UnixMilli()) {
		// A maintenance window starts or ends: the map shows it.
		m, _ := w.reg.lookup(id)
		w.wall.set("g/"+id, m)
	}
	counts := w.devs.counts(w.reg)
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
	d := w.devs.get(id)
	meta, registered := w.reg.lookup(id)
	if c := w.devChans.get(id); c != nil || !open || d == nil || !registered {
		return c
	}
	return w.devChans.open(id, func(c *channel) {
		c.set("meta", meta)
		for m, v := range d.M {
			c.set("m/"+m, v)
		}
		c.set("status", d.statusEntry())
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
	out := make([]map[string]any, 0, w.reg.len())
	w.reg.each(func(id string, m devMeta) {
		var d devLive
		if p := w.devs.get(id); p != nil {
			d = *p
		}
		out = append(out, map[string]any{"id": id, "partner": m.Partner, "type": m.Type, "ward": m.Ward, "name": m.Name,
			"lat": m.Lat, "lon": m.Lon, "interval_s": m.Interval, "status": d.Status, "since_ms": d.Since, "last_ms": d.Last,
			"maintenance_to_ms": m.MaintTo})
	})
	sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
	return out
}

// unregisteredList is what the wall saw of the unregistered devices,
// newest first.
func (w *wallState) unregisteredList() []UnregisteredDevice {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]UnregisteredDevice, 0, w.unreg.len())
	w.unreg.each(func(id string, u *unregLive) {
		out = append(out, UnregisteredDevice{Partner: u.Partner, DeviceID: id, FirstMs: u.First, LastMs: u.Last, Readings: uint64(u.N), Metrics: u.Metrics})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].LastMs > out[j].LastMs })
	return out
}

func round1(x float64) float64 {
	return float64(int64(x*10+0.5)) / 10
}
