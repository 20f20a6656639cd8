package audit

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Refusals (outcomes denied and limited) are what an attacker can make
// without limit: every request without credentials is one. The writer keeps
// them apart from the other events, so that a flood of them can neither
// drop nor delay a real event (a sign-in, a change, an acknowledgement):
//
//   - they wait in a queue of their own;
//   - from one client address, at most RefusalsPerAddress a minute are
//     written one by one, and at most RefusalsPerMinute from all addresses
//     together; beyond, they are counted per address, action, outcome and
//     reason, and every SummaryEvery each count becomes one row (actor
//     "aggregate", detail "N more refusals like this from ADDR …");
//   - at most RefusalAddresses addresses are tracked; refusals from more
//     addresses at once are counted under the address "*".
//
// So nothing is lost: each refusal is either a row or part of a count.
type refusalAgg struct {
	mu       sync.Mutex
	perAddr  float64 // tokens a second, per address
	burst    float64
	global   bucketState
	gRate    float64
	gBurst   float64
	maxAddrs int
	addrs    map[string]*addrState
	now      func() time.Time
}

type bucketState struct {
	tokens float64
	last   time.Time
}

func (b *bucketState) take(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

type addrState struct {
	bucket bucketState
	counts map[aggKey]*aggCount
}

type aggKey struct{ action, outcome, reason, service string }

type aggCount struct {
	n                       int
	first, last             time.Time
	actor, role, target, ua string // the last refusal's
}

// maxKeysPerAddr bounds the distinct (action, outcome, reason) counted for
// one address; more are counted under reason "other".
const maxKeysPerAddr = 16

func newRefusalAgg(perAddrPerMinute, perMinute, maxAddrs int) *refusalAgg {
	perMinute = max(perMinute, perAddrPerMinute)
	return &refusalAgg{perAddr: float64(perAddrPerMinute) / 60, burst: float64(perAddrPerMinute),
		gRate: float64(perMinute) / 60, gBurst: float64(perMinute), maxAddrs: maxAddrs,
		addrs: map[string]*addrState{}, now: time.Now}
}

// admit reports whether a refusal may be written on its own; if not, it
// is counted for the next summary.
func (a *refusalAgg) admit(e Event) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	addr := e.Remote
	if addr == "" {
		addr = "unknown"
	}
	st := a.addrs[addr]
	if st == nil {
		if len(a.addrs) >= a.maxAddrs {
			a.countLocked("*", e, now)
			return false
		}
		st = &addrState{counts: map[aggKey]*aggCount{}}
		a.addrs[addr] = st
	}
	if st.bucket.take(now, a.perAddr, a.burst) && a.global.take(now, a.gRate, a.gBurst) {
		return true
	}
	a.countLocked(addr, e, now)
	return false
}

// count adds a refusal to the summary without admitting it (its queue was
// full).
func (a *refusalAgg) count(e Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr := e.Remote
	if addr == "" {
		addr = "unknown"
	}
	a.countLocked(addr, e, a.now())
}

func (a *refusalAgg) countLocked(addr string, e Event, now time.Time) {
	st := a.addrs[addr]
	if st == nil {
		st = &addrState{counts: map[aggKey]*aggCount{}}
		a.addrs[addr] = st // "*" and a full queue's address may pass maxAddrs by one each
	}
	code, _, _ := strings.Cut(e.Reason, ":")
	k := aggKey{e.Action, e.Outcome, code, e.Service}
	c := st.counts[k]
	if c == nil {
		if len(st.counts) >= maxKeysPerAddr {
			k.reason = "other"
			c = st.counts[k]
		}
		if c == nil {
			c = &aggCount{first: now}
			st.counts[k] = c
		}
	}
	c.n++
	c.last, c.actor, c.role, c.target, c.ua = now, e.Actor, e.Role, e.Target, e.UserAgent
}

// drain turns the counts into summary events and forgets addresses that
// have nothing counted and a full bucket again.
func (a *refusalAgg) drain() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var out []Event
	for addr, st := range a.addrs {
		for k, c := range st.counts {
			out = append(out, Event{At: c.last, Actor: "aggregate", Role: c.role, Action: k.action, Target: c.target,
				Outcome: k.outcome, Reason: k.reason, Remote: addr, UserAgent: c.ua, Service: k.service,
				Detail: fmt.Sprintf("%d more refusals like this from %s between %s and %s, written as this one row "+
					"(more than %.0f a minute from one address; the last was by %s)", c.n, addr,
					c.first.Format(time.RFC3339), c.last.Format(time.RFC3339), a.burst, c.actor)})
		}
		clear(st.counts)
		if st.bucket.tokens+now.Sub(st.bucket.last).Seconds()*a.perAddr >= a.burst {
			delete(a.addrs, addr)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Remote < out[j].Remote || out[i].Remote == out[j].Remote && out[i].Reason < out[j].Reason
	})
	return out
}

// SummaryCount reads the count of a summary row's detail (0 if it is not
// one): "N more refusals like this from …".
func SummaryCount(e Event) int {
	if e.Actor != "aggregate" {
		return 0
	}
	var n int
	_, _ = fmt.Sscanf(e.Detail, "%d more refusals", &n)
	return n
}
