package auth

import (
	"sort"
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens per second, up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// limiter keeps one bucket per key (an address, an account name), at most
// max keys: when full, the oldest-used keys are forgotten, so a flood of
// new addresses cannot grow memory.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	max     int
	buckets map[string]*bucket
	now     func() time.Time
}

func newLimiter(perMinute int, burst int, max int) *limiter {
	return &limiter{rate: float64(perMinute) / 60, burst: float64(burst), max: max, buckets: map[string]*bucket{}, now: time.Now}
}

// allow takes one token for key; false means over the limit.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict forgets full buckets (keys idle long enough to be back at burst),
// or, if none, the least recently used half.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	keys := make([]string, 0, len(l.buckets))
	for k := range l.buckets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return l.buckets[keys[i]].last.Before(l.buckets[keys[j]].last) })
	for _, k := range keys[:len(keys)/2+1] {
		delete(l.buckets, k)
	}
}

// MessageLimiter bounds the messages one websocket client may send: rate
// per second with a burst of twice that. Not safe for concurrent use: one
// per connection, used by its reading goroutine.
type MessageLimiter struct {
	b           bucket
	rate, burst float64
}

// NewMessageLimiter returns a limiter for perSecond messages per second.
func NewMessageLimiter(perSecond int) *MessageLimiter {
	return &MessageLimiter{b: bucket{tokens: float64(2 * perSecond), last: time.Now()}, rate: float64(perSecond), burst: float64(2 * perSecond)}
}

// NewMessageLimiterPerMinute returns a limiter for perMinute messages a
// minute with a burst of burst.
func NewMessageLimiterPerMinute(perMinute, burst int) *MessageLimiter {
	return &MessageLimiter{b: bucket{tokens: float64(burst), last: time.Now()}, rate: float64(perMinute) / 60, burst: float64(burst)}
}

// Allow takes one message; false means the client is over its rate.
func (m *MessageLimiter) Allow() bool {
	now := time.Now()
	m.b.tokens = min(m.burst, m.b.tokens+now.Sub(m.b.last).Seconds()*m.rate)
	m.b.last = now
	if m.b.tokens < 1 {
		return false
	}
	m.b.tokens--
	return true
}
