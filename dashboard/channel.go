package dashboard

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"time"
)

// A channel of websocket protocol v2 (docs/websocket.md) is a keyed state:
// key → JSON value. A subscriber gets a snapshot of every entry, then
// deltas carrying what changed, each numbered by the channel's sequence.
// Every entry remembers the sequence at which it last changed, and removed
// keys leave a tombstone for a while, so that the channel can tell a client
// that resumes at sequence n exactly what changed after n (a "catch-up"
// delta, one value per key: the latest), or send a new snapshot when n is
// older than what it remembers. Deltas are encoded once per flush and the
// same bytes go to every subscriber; the last few are kept in a ring for
// clients that reconnect a moment later.
type channel struct {
	name string
	now  func() time.Time

	mu      sync.Mutex
	seq     uint64
	entries map[string]*entry
	pending map[string]struct{} // keys changed since the last flush
	// tombs are removed keys, oldest first; tombFloor is the sequence up to
	// which tombstones were dropped: a resume from below it gets a snapshot.
	tombs     []tomb
	tombFloor uint64
	maxTombs  int
	ring      []ringFrame // recent deltas, oldest first
	ringBytes int
	maxRing   int // bytes
	subs      map[*session]*subscription
	// dead is set (under mu) when a device channel nobody watched was
	// dropped: a subscriber that got it just before asks again.
	dead bool
	idle int // sweeps without subscribers
}

type entry struct {
	data json.RawMessage
	seq  uint64
}

type tomb struct {
	key string
	seq uint64
}

type ringFrame struct {
	from, seq uint64
	frame     []byte
}

func newChannel(name string, maxTombs, maxRingBytes int) *channel {
	return &channel{name: name, now: time.Now, entries: map[string]*entry{}, pending: map[string]struct{}{},
		maxTombs: maxTombs, maxRing: maxRingBytes, subs: map[*session]*subscription{}}
}

// set records a value; an unchanged value is no change.
func (c *channel) set(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	c.setRaw(key, b)
}

func (c *channel) setRaw(key string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil && bytes.Equal(e.data, b) {
		return
	}
	c.entries[key] = &entry{data: b}
	c.pending[key] = struct{}{}
}

// del removes a key.
func (c *channel) del(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		return
	}
	delete(c.entries, key)
	c.pending[key] = struct{}{}
}

// get returns the current value of a key.
func (c *channel) get(key string) (json.RawMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	return e.data, true
}

// frame writes a frame: {"type":…,"ch":…,"epoch":…,"seq":…,"from":…,
// "server_ms":…,"set":{key:value,…},"del":[key,…]} with keys in order.
func (c *channel) frame(typ, epoch string, from, seq uint64, set map[string]json.RawMessage, del []string, extra string) []byte {
	keys := make([]string, 0, len(set))
	size := 128 + len(extra)
	for k, v := range set {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	sort.Strings(keys)
	sort.Strings(del)
	b := make([]byte, 0, size)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","ch":`...)
	b = strconv.AppendQuote(b, c.name)
	b = append(b, `,"epoch":"`...)
	b = append(b, epoch...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"from":`...)
	b = strconv.AppendUint(b, from, 10)
	b = append(b, `,"server_ms":`...)
	b = strconv.AppendInt(b, c.now().UnixMilli(), 10)
	b = append(b, extra...)
	b = append(b, `,"set":{`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, set[k]...)
	}
	b = append(b, `},"del":[`...)
	for i, k := range del {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
	}
	b = append(b, "]}"...)
	return b
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // escapes like the rest of the frame (HTML-safe)
	return append(b, q...)
}

// flush turns what changed since the last flush into one delta, encoded
// once, and offers it to every subscriber.
func (c *channel) flush(epoch string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return
	}
	c.seq++
	set := make(map[string]json.RawMessage, len(c.pending))
	var del []string
	for k := range c.pending {
		if e := c.entries[k]; e != nil {
			e.seq = c.seq
			set[k] = e.data
		} else {
			del = append(del, k)
			c.tombs = append(c.tombs, tomb{k, c.seq})
		}
	}
	clear(c.pending)
	if over := len(c.tombs) - c.maxTombs; over > 0 {
		c.tombFloor = c.tombs[over-1].seq
		c.tombs = append(c.tombs[:0], c.tombs[over:]...)
	}
	f := c.frame("delta", epoch, c.seq, c.seq, set, del, "")
	c.ring = append(c.ring, ringFrame{c.seq, c.seq, f})
	c.ringBytes += len(f)
	for len(c.ring) > 1 && c.ringBytes > c.maxRing {
		c.ringBytes -= len(c.ring[0].frame)
		c.ring = c.ring[1:]
	}
	for s, sub := range c.subs {
		s.offer(sub, f, c.seq)
	}
}

// snapshotFrames encodes every entry in frames of at most maxBytes each
// (a large state arrives in parts; the last has "last":true). The caller
// holds mu.
func (c *channel) snapshotFrames(epoch string, maxBytes int) [][]byte {
	keys := make([]string, 0, len(c.entries))
	for k := range c.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var frames [][]byte
	part := map[string]json.RawMessage{}
	size := 0
	emit := func(last bool) {
		extra := `,"part":` + strconv.Itoa(len(frames)) + `,"last":` + strconv.FormatBool(last)
		frames = append(frames, c.frame("snapshot", epoch, 0, c.seq, part, nil, extra))
		part, size = map[string]json.RawMessage{}, 0
	}
	for _, k := range keys {
		v := c.entries[k].data
		if size > 0 && size+len(k)+len(v)+8 > maxBytes-256 {
			emit(false)
		}
		part[k] = v
		size += len(k) + len(v) + 8
	}
	emit(true)
	return frames
}

// catchUp encodes, under mu, what changed after sequence since: the
// latest value of every key changed since, and the keys removed since. ok
// is false when tombstones older than since were dropped (send a snapshot).
func (c *channel) catchUp(epoch string, since uint64) ([]byte, bool) {
	if since < c.tombFloor {
		return nil, false
	}
	set := map[string]json.RawMessage{}
	for k, e := range c.entries {
		if e.seq > since {
			set[k] = e.data
		}
	}
	var del []string
	for i := len(c.tombs) - 1; i >= 0 && c.tombs[i].seq > since; i-- {
		if _, back := c.entries[c.tombs[i].key]; !back {
			del = append(del, c.tombs[i].key)
		}
	}
	return c.frame("delta", epoch, since+1, c.seq, set, del, ""), true
}

// replay returns the ring's deltas after since when they cover every
// sequence from since+1 (exact history), else nil.
func (c *channel) replay(since uint64) [][]byte {
	if since >= c.seq {
		return [][]byte{}
	}
	for i, f := range c.ring {
		if f.from == since+1 {
			out := make([][]byte, 0, len(c.ring)-i)
			for _, g := range c.ring[i:] {
				out = append(out, g.frame)
			}
			return out
		}
	}
	return nil
}

// sweepIdle counts a sweep without subscribers; after limit of them in a
// row the channel is marked dead (a subscriber that got it just before
// asks again) and sweepIdle reports true.
func (c *channel) sweepIdle(limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.subs) > 0 {
		c.idle = 0
		return false
	}
	c.idle++
	if c.idle >= limit {
		c.dead = true
	}
	return c.dead
}
