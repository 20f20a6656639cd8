package notify

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// job is one notification to send on one channel, or (deferred) one held
// back by quiet hours, recorded and not sent.
type job struct {
	channel  string
	notice   Notice
	seq      int // the alert's seq when the notification was decided
	deferred time.Time
}

// ledger is what was sent (or queued to be sent): shared by the router,
// which never queues a key twice, and the workers, which mark what went
// out. Loaded from ClickHouse at start, so that a restart sends nothing
// again.
type ledger struct {
	mu    sync.Mutex
	keys  map[string]int64    // channel \0 idempotency key → when (ms)
	trans map[string]lastSent // channel \0 transition id → newest repeat sent
	alert map[string]bool     // channel \0 alert id → something was sent
}

type lastSent struct {
	repeat int
	atMs   int64
}

func newLedger() *ledger {
	return &ledger{keys: map[string]int64{}, trans: map[string]lastSent{}, alert: map[string]bool{}}
}

func (l *ledger) mark(channel, alertID, transition, key string, repeat int, atMs int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys[channel+"\x00"+key] = atMs
	k := channel + "\x00" + transition
	if old, ok := l.trans[k]; !ok || repeat >= old.repeat {
		l.trans[k] = lastSent{repeat: repeat, atMs: max(atMs, old.atMs)}
	}
	l.alert[channel+"\x00"+alertID] = true
}

func (l *ledger) has(channel, key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.keys[channel+"\x00"+key]
	return ok
}

func (l *ledger) last(channel, transition string) (lastSent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.trans[channel+"\x00"+transition]
	return s, ok
}

func (l *ledger) sentFor(channel, alertID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.alert[channel+"\x00"+alertID]
}

// prune forgets what was sent before cutoff (ms).
func (l *ledger) prune(cutoff int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, at := range l.keys {
		if at < cutoff {
			delete(l.keys, k)
		}
	}
	for k, s := range l.trans {
		if s.atMs < cutoff {
			delete(l.trans, k)
		}
	}
}

// delivery is an alert's notifications on one channel.
type delivery struct {
	route      *RouteConfig
	ev         event.AlertEvent // the transition being notified (open or escalated)
	repeat     int
	lastAt     time.Time
	sent       bool // something went out (or is queued)
	heldUntil  time.Time
	heldNotice string
}

type tracked struct {
	ev    event.AlertEvent
	acked bool
	dels  map[string]*delivery
}

// router decides, from the alert transitions and the clock, which
// notification goes to which channel and when. It is pure state, owned by
// one goroutine: transitions and ticks in, jobs out.
type router struct {
	cfg     *Config
	led     *ledger
	alerts  map[string]*tracked
	stopped *sync.Map // alert id → true while acknowledged or resolved (workers cancel queued repeats)
	// resolved remembers resolved alerts (id → when, ms) for
	// cfg.Remember: a transition of one read again later (a redelivery)
	// must not bring it back to life and repeat it.
	resolved map[string]int64
}

func newRouter(cfg *Config, led *ledger) *router {
	return &router{cfg: cfg, led: led, alerts: map[string]*tracked{}, stopped: &sync.Map{}, resolved: map[string]int64{}}
}

// routesFor gives, per channel, the first route that matches the alert.
func (r *router) routesFor(ev *event.AlertEvent) map[string]*RouteConfig {
	out := map[string]*RouteConfig{}
	for i := range r.cfg.Routes {
		rt := &r.cfg.Routes[i]
		if !matches(rt, ev) {
			continue
		}
		for _, ch := range rt.Channels {
			if c, ok := r.cfg.Channels[ch]; !ok || !on(c.Enabled) {
				continue
			}
			if _, taken := out[ch]; !taken {
				out[ch] = rt
			}
		}
	}
	return out
}

func matches(rt *RouteConfig, ev *event.AlertEvent) bool {
	return (len(rt.Rules) == 0 || slices.Contains(rt.Rules, ev.Rule)) &&
		(len(rt.Wards) == 0 || slices.Contains(rt.Wards, ev.Ward)) &&
		(len(rt.Partners) == 0 || slices.Contains(rt.Partners, ev.Partner)) &&
		severityRank(ev.Severity) >= severityRank(rt.MinSeverity)
}

func noticeOf(state string) string {
	switch state {
	case event.AlertEscalated:
		return NoticeEscalated
	case event.AlertAcknowledged:
		return NoticeAcknowledged
	case event.AlertResolved:
		return NoticeResolved
	}
	return NoticeOpen
}

// event takes one alert transition.
func (r *router) event(ev event.AlertEvent, now time.Time) []job {
	t := r.alerts[ev.AlertID]
	if t != nil && ev.Seq <= t.ev.Seq {
		return nil // a replayed or repeated transition
	}
	if _, done := r.resolved[ev.AlertID]; done {
		return nil // a transition of an alert resolved already
	}
	if t == nil {
		t = &tracked{dels: map[string]*delivery{}}
		r.alerts[ev.AlertID] = t
	}
	t.ev = ev
	fresh := now.Sub(time.UnixMilli(ev.AtMs)) <= r.cfg.MaxAge
	var out []job
	// Channels newly matching (a first transition, or an escalation that
	// raised the severity above a route's minimum).
	for ch, rt := range r.routesFor(&ev) {
		if t.dels[ch] == nil {
			t.dels[ch] = &delivery{route: rt, ev: ev, lastAt: time.UnixMilli(ev.AtMs), sent: r.led.sentFor(ch, ev.AlertID)}
		}
	}
	chans := make([]string, 0, len(t.dels))
	for ch := range t.dels {
		chans = append(chans, ch)
	}
	sort.Strings(chans)
	switch ev.State {
	case event.AlertOpen, event.AlertEscalated:
		t.acked = false
		r.stopped.Delete(ev.AlertID)
		for _, ch := range chans {
			d := t.dels[ch]
			d.ev, d.repeat, d.lastAt, d.heldUntil = ev, 0, time.UnixMilli(ev.AtMs), time.Time{}
			if last, ok := r.led.last(ch, ev.ID); ok {
				// Sent before a restart: carry on from there.
				d.repeat, d.lastAt, d.sent = last.repeat, time.UnixMilli(last.atMs), true
				continue
			}
			if !fresh {
				continue // an old transition: not sent as itself; repeats follow if nobody acknowledges
			}
			out = append(out, r.make(ch, d, noticeOf(ev.State), 0, now)...)
		}
	case event.AlertAcknowledged:
		t.acked = true
		r.stopped.Store(ev.AlertID, true)
		for _, ch := range chans {
			d := t.dels[ch]
			d.heldUntil = time.Time{}
			if d.sent && d.route.SendAcknowledged && fresh {
				out = append(out, r.now(ch, &ev, NoticeAcknowledged, now)...)
			}
		}
	case event.AlertResolved:
		r.stopped.Store(ev.AlertID, true)
		for _, ch := range chans {
			d := t.dels[ch]
			if d.sent && on(d.route.SendResolved) && fresh {
				out = append(out, r.now(ch, &ev, NoticeResolved, now)...)
			}
		}
		delete(r.alerts, ev.AlertID)
		r.resolved[ev.AlertID] = now.UnixMilli()
	}
	return out
}

// prune forgets resolved alerts older than cutoff (ms).
func (r *router) prune(cutoff int64) {
	for id, at := range r.resolved {
		if at < cutoff {
			delete(r.resolved, id)
			r.stopped.Delete(id)
		}
	}
}

// make decides an open, escalated or repeat notification of d's
// transition: sent now, or held back by quiet hours.
func (r *router) make(ch string, d *delivery, notice string, repeat int, now time.Time) []job {
	n := newNotice(&d.ev, notice, repeat, ch, r.cfg.BaseURL, now)
	if r.led.has(ch, n.Key) {
		return nil
	}
	if hold, until := d.route.Quiet.holds(now, d.ev.Severity); hold {
		if d.heldUntil.IsZero() {
			d.heldUntil, d.heldNotice = until, notice
			return []job{{channel: ch, notice: n, seq: d.ev.Seq, deferred: until}}
		}
		return nil
	}
	r.led.mark(ch, d.ev.AlertID, d.ev.ID, n.Key, repeat, now.UnixMilli())
	d.sent, d.lastAt, d.repeat = true, now, repeat
	return []job{{channel: ch, notice: n, seq: d.ev.Seq}}
}

// now is a notice that is never held (acknowledged, resolved).
func (r *router) now(ch string, ev *event.AlertEvent, notice string, now time.Time) []job {
	n := newNotice(ev, notice, 0, ch, r.cfg.BaseURL, now)
	if r.led.has(ch, n.Key) {
		return nil
	}
	r.led.mark(ch, ev.AlertID, ev.ID, n.Key, 0, now.UnixMilli())
	return []job{{channel: ch, notice: n, seq: ev.Seq}}
}

// tick sends what quiet hours held back once they end, and the repeats of
// alerts nobody acknowledged.
func (r *router) tick(now time.Time) []job {
	ids := make([]string, 0, len(r.alerts))
	for id := range r.alerts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []job
	for _, id := range ids {
		t := r.alerts[id]
		if t.acked {
			continue
		}
		chans := make([]string, 0, len(t.dels))
		for ch := range t.dels {
			chans = append(chans, ch)
		}
		sort.Strings(chans)
		for _, ch := range chans {
			d := t.dels[ch]
			if !d.heldUntil.IsZero() {
				if now.Before(d.heldUntil) {
					continue
				}
				notice, rep := d.heldNotice, d.repeat
				d.heldUntil = time.Time{}
				out = append(out, r.make(ch, d, notice, rep, now)...)
				continue
			}
			rt := d.route
			if rt.RepeatEvery <= 0 || (rt.MaxRepeats > 0 && d.repeat >= rt.MaxRepeats) || now.Sub(d.lastAt) < rt.RepeatEvery {
				continue
			}
			if hold, _ := rt.Quiet.holds(now, d.ev.Severity); hold {
				continue // no repeats in quiet hours; they resume after
			}
			out = append(out, r.make(ch, d, NoticeRepeat, d.repeat+1, now)...)
		}
	}
	return out
}
