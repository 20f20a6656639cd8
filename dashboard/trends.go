package dashboard

import (
	"strconv"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// trends holds the wall's trend minutes (t/<series>/<minute ms>: avg, max,
// n of every device's readings of a series) within a window, and the
// newest observation counted per series of one device, so that a reading
// replayed from Kafka is not counted twice. It is not safe for concurrent
// use (the wall model holds its lock); now is its clock.
type trends struct {
	now     func() time.Time
	window  time.Duration
	maxKeys int // device series remembered at most

	minutes map[trendMinute]*trendBucket
	dirty   map[trendMinute]struct{}
	lastObs map[obsKey]int64
}

// trendMinute names a minute of a series: its key on the wall channel.
type trendMinute struct {
	series string
	ms     int64 // the minute's start
}

func (m trendMinute) key() string { return "t/" + m.series + "/" + strconv.FormatInt(m.ms, 10) }

type obsKey struct{ partner, device, metric string }

func newTrends(now func() time.Time, window time.Duration, maxKeys int) *trends {
	return &trends{now: now, window: window, maxKeys: maxKeys,
		minutes: map[trendMinute]*trendBucket{}, dirty: map[trendMinute]struct{}{}, lastObs: map[obsKey]int64{}}
}

// add counts a reading in its minute, once: a reading not newer than the
// newest one counted for its device and metric is not counted, nor one
// outside the window (or more than a minute ahead).
func (t *trends) add(r *event.Reading) {
	s := seriesOf(r)
	if s == nil {
		return
	}
	k := obsKey{r.Partner, r.DeviceID, r.Metric}
	last, ok := t.lastObs[k]
	if ok && r.ObservedMs <= last {
		return
	}
	if !ok && len(t.lastObs) >= t.maxKeys {
		return
	}
	t.lastObs[k] = r.ObservedMs
	now := t.now()
	m := trendMinute{s.ID, r.ObservedMs - r.ObservedMs%60000}
	if m.ms < now.Add(-t.window).UnixMilli() || m.ms > now.Add(time.Minute).UnixMilli() {
		return
	}
	b := t.minutes[m]
	if b == nil {
		b = &trendBucket{Max: r.Value}
		t.minutes[m] = b
	}
	b.sum += r.Value
	b.N++
	b.Avg = b.sum / float64(b.N)
	b.Max = max(b.Max, r.Value)
	t.dirty[m] = struct{}{}
}

// seed sets a minute read from ClickHouse.
func (t *trends) seed(series string, minuteMs int64, sum, maxv float64, n int64) {
	m := trendMinute{series, minuteMs}
	b := &trendBucket{sum: sum, Max: maxv, N: n}
	if n > 0 {
		b.Avg = sum / float64(n)
	}
	t.minutes[m] = b
	t.dirty[m] = struct{}{}
}

// seedObserved records the newest observation ClickHouse counted for a
// device's metric.
func (t *trends) seedObserved(partner, device, metric string, ms int64) {
	k := obsKey{partner, device, metric}
	if _, ok := t.lastObs[k]; ok || len(t.lastObs) < t.maxKeys {
		t.lastObs[k] = max(t.lastObs[k], ms)
	}
}

// changed calls set with the key and value of every minute that changed
// since the last call.
func (t *trends) changed(set func(key string, b *trendBucket)) {
	for m := range t.dirty {
		if b := t.minutes[m]; b != nil {
			set(m.key(), b)
		}
	}
	clear(t.dirty)
}

// expire forgets the minutes that ended before the window and calls del
// with each one's key.
func (t *trends) expire(del func(key string)) {
	cut := t.now().Add(-t.window).UnixMilli() - 60000
	for m := range t.minutes {
		if m.ms < cut {
			delete(t.minutes, m)
			delete(t.dirty, m)
			del(m.key())
		}
	}
}
