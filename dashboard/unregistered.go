package dashboard

import (
	"slices"
	"sort"

	"github.com/sonla-ioc/ioc/internal/event"
)

// unregistered lists the devices that report without being registered
// (u/<device> on the wall): the max heard from most recently, each with
// its partner, first and last receive time, readings counted and up to
// eight metric names. It is not safe for concurrent use (the wall model
// holds its lock).
type unregistered struct {
	max   int
	devs  map[string]*unregLive
	dirty map[string]struct{}
}

func newUnregistered(maxDevices int) *unregistered {
	return &unregistered{max: maxDevices, devs: map[string]*unregLive{}, dirty: map[string]struct{}{}}
}

// add counts a reading of an unregistered device; evicted names the device
// dropped to make room ("" for none).
func (u *unregistered) add(r *event.Reading) (evicted string) {
	d := u.devs[r.DeviceID]
	if d == nil {
		if len(u.devs) >= u.max {
			at := int64(1 << 62)
			for id, x := range u.devs {
				if x.Last < at {
					evicted, at = id, x.Last
				}
			}
			delete(u.devs, evicted)
			delete(u.dirty, evicted)
		}
		d = &unregLive{Partner: r.Partner, First: r.ReceivedMs}
		u.devs[r.DeviceID] = d
	}
	d.Last = max(d.Last, r.ReceivedMs)
	d.N++
	if !slices.Contains(d.Metrics, r.Metric) && len(d.Metrics) < 8 {
		d.Metrics = append(d.Metrics, r.Metric)
		sort.Strings(d.Metrics)
	}
	u.dirty[r.DeviceID] = struct{}{}
	return evicted
}

// registered drops a device now registered to the partner it reported
// under; false if it was not listed so.
func (u *unregistered) registered(id, partner string) bool {
	d := u.devs[id]
	if d == nil || d.Partner != partner {
		return false
	}
	delete(u.devs, id)
	delete(u.dirty, id)
	return true
}

// changed calls set with every device that changed since the last call.
func (u *unregistered) changed(set func(id string, d *unregLive)) {
	for id := range u.dirty {
		if d := u.devs[id]; d != nil {
			set(id, d)
		}
	}
	clear(u.dirty)
}

// each calls fn with every listed device.
func (u *unregistered) each(fn func(id string, d *unregLive)) {
	for id, d := range u.devs {
		fn(id, d)
	}
}

func (u *unregistered) len() int { return len(u.devs) }
