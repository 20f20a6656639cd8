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
	devs  map[string]*unregItem
	dirty map[string]struct{}
	// byLast orders the listed devices by last receive time, oldest first
	// (a min-heap): the one to drop for a new device is found in O(log n)
	// instead of a scan of every listed device, which cost ~5 µs per
	// reading when more devices report unregistered than the wall lists
	// (BenchmarkWallFlushInterval).
	byLast []*unregItem
}

type unregItem struct {
	id string
	d  *unregLive
	i  int // index in byLast
}

func newUnregistered(maxDevices int) *unregistered {
	return &unregistered{max: maxDevices, devs: map[string]*unregItem{}, dirty: map[string]struct{}{}}
}

// add counts a reading of an unregistered device; evicted names the device
// dropped to make room ("" for none): the one heard from least recently.
func (u *unregistered) add(r *event.Reading) (evicted string) {
	it := u.devs[r.DeviceID]
	if it == nil {
		if len(u.devs) >= u.max && len(u.byLast) > 0 {
			evicted = u.byLast[0].id
			u.remove(u.byLast[0])
			delete(u.dirty, evicted)
		}
		it = &unregItem{id: r.DeviceID, d: &unregLive{Partner: r.Partner, First: r.ReceivedMs}, i: len(u.byLast)}
		u.devs[r.DeviceID] = it
		u.byLast = append(u.byLast, it)
	}
	d := it.d
	d.Last = max(d.Last, r.ReceivedMs)
	u.fix(it.i)
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
	it := u.devs[id]
	if it == nil || it.d.Partner != partner {
		return false
	}
	u.remove(it)
	delete(u.dirty, id)
	return true
}

// remove drops a listed device from the map and the heap.
func (u *unregistered) remove(it *unregItem) {
	delete(u.devs, it.id)
	i, last := it.i, len(u.byLast)-1
	if i != last {
		u.swap(i, last)
	}
	u.byLast[last] = nil
	u.byLast = u.byLast[:last]
	if i < last {
		u.fix(i) // the device moved into its place
	}
}

func (u *unregistered) less(i, j int) bool { return u.byLast[i].d.Last < u.byLast[j].d.Last }

func (u *unregistered) swap(i, j int) {
	u.byLast[i], u.byLast[j] = u.byLast[j], u.byLast[i]
	u.byLast[i].i, u.byLast[j].i = i, j
}

// fix restores the heap order after the item at i changed.
func (u *unregistered) fix(i int) {
	for i > 0 { // up
		p := (i - 1) / 2
		if !u.less(i, p) {
			break
		}
		u.swap(i, p)
		i = p
	}
	for n := len(u.byLast); ; { // down
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && u.less(r, l) {
			m = r
		}
		if !u.less(m, i) {
			return
		}
		u.swap(i, m)
		i = m
	}
}

// changed calls set with every device that changed since the last call.
func (u *unregistered) changed(set func(id string, d *unregLive)) {
	for id := range u.dirty {
		if it := u.devs[id]; it != nil {
			set(id, it.d)
		}
	}
	clear(u.dirty)
}

// each calls fn with every listed device.
func (u *unregistered) each(fn func(id string, d *unregLive)) {
	for id, it := range u.devs {
		fn(id, it.d)
	}
}

func (u *unregistered) len() int { return len(u.devs) }
