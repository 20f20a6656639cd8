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
}

// registryView is the device registry as the wall shows it, and the
// version it came from ("" while none is known). It is not safe for
// concurrent use (the wall model holds its lock).
type registryView struct {
	devs    map[string]devMeta
	version string
}

// regDiff is what replacing the registry changed, each list sorted.
type regDiff struct {
	Set     []string // devices added or whose entry changed
	Removed []string // devices no longer registered
}

func newRegistryView() *registryView { return &registryView{devs: map[string]devMeta{}} }

// replace takes a registry; ok is false when it is the version already
// held (a non-empty one), so nothing changed.
func (v *registryView) replace(devs []*registry.Device, version string) (diff regDiff, ok bool) {
	if version == v.version && version != "" {
		return regDiff{}, false
	}
	next := make(map[string]devMeta, len(devs))
	for _, d := range devs {
		next[d.ID] = devMeta{Partner: d.Partner, Type: d.Type, Ward: d.Ward, Name: d.Name, Lat: d.Lat, Lon: d.Lon,
			Interval: int(d.Interval / time.Second)}
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
