package dashboard

import (
	"sort"
	"time"

	"github.com/sonla-ioc/ioc/internal/registry"
)

// devMeta is a registry entry as the wall shows it (g/<device>).
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

// registryView is the device registry as the wall shows it, and the
// version it came from ("" while none is known). It is not safe for
// concurrent use (the wall model holds its lock).
type registryView struct {
	devs    map[string]devMeta
	version string
	// maint holds the maintenance windows of the devices that have some.
	maint map[string][]registry.Window
}

// regDiff is what replacing the registry changed, each list sorted.
type regDiff struct {
	Set     []string // devices added or whose entry changed
	Removed []string // devices no longer registered
}

func newRegistryView() *registryView {
	return &registryView{devs: map[string]devMeta{}, maint: map[string][]registry.Window{}}
}

// replace takes a registry at nowMs (which devices are in a maintenance
// window); ok is false when it is the version already held (a non-empty
// one), so nothing changed.
func (v *registryView) replace(devs []*registry.Device, version string, nowMs int64) (diff regDiff, ok bool) {
	if version == v.version && version != "" {
		return regDiff{}, false
	}
	next := make(map[string]devMeta, len(devs))
	clear(v.maint)
	for _, d := range devs {
		m := devMeta{Partner: d.Partner, Type: d.Type, Ward: d.Ward, Name: d.Name, Lat: d.Lat, Lon: d.Lon,
			Interval: int(d.Interval / time.Second)}
		if len(d.Maintenance) > 0 {
			v.maint[d.ID] = d.Maintenance
			_, m.MaintTo = d.InMaintenance(nowMs)
		}
		next[d.ID] = m
	}
	for id, m := range next {
		if old, had := v.devs[id]; !had || old != m {
			diff.Set = append(diff.Set, id)
		}
	}
	for id := range v.devs {
		if _, still := next[id]; !still {
			diff.Removed = append(diff.Removed, id)
		}
	}
	sort.Strings(diff.Set)
	sort.Strings(diff.Removed)
	v.devs, v.version = next, version
	return diff, true
}

// maintenance updates which devices are in a maintenance window at nowMs
// and returns those whose window started or ended, sorted.
func (v *registryView) maintenance(nowMs int64) []string {
	var changed []string
	for id, ws := range v.maint {
		m, ok := v.devs[id]
		if !ok {
			continue
		}
		if _, to := (&registry.Device{Maintenance: ws}).InMaintenance(nowMs); to != m.MaintTo {
			m.MaintTo = to
			v.devs[id] = m
			changed = append(changed, id)
		}
	}
	sort.Strings(changed)
	return changed
}

// lookup returns a device's entry.
func (v *registryView) lookup(id string) (devMeta, bool) {
	m, ok := v.devs[id]
	return m, ok
}

// registeredTo tells whether the device is registered to this partner (a
// reading under another partner's topic is not the registered device's).
func (v *registryView) registeredTo(id, partner string) bool {
	m, ok := v.devs[id]
	return ok && m.Partner == partner
}

// each calls fn with every registered device.
func (v *registryView) each(fn func(id string, m devMeta)) {
	for id, m := range v.devs {
		fn(id, m)
	}
}

func (v *registryView) len() int { return len(v.devs) }

// registryVersion is the version of the registry held, "" while none is.
func (v *registryView) registryVersion() string { return v.version }
