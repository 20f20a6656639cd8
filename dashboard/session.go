package dashboard

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sonla-ioc/ioc/internal/auth"
)

// Close codes of protocol v2 (docs/websocket.md); the reason text says
// what to do.
const (
	closeSlow        = 4008 // the client could not keep up
	closeHeartbeat   = 4001 // nothing from the client within the heartbeat timeout
	closeBadMessage  = 4002 // a message the server does not understand
	closeTooMany     = 4029 // the client sends too many messages
	closeGoingAway   = websocket.CloseGoingAway
	closeMessageSize = websocket.CloseMessageTooBig
)

// session is one protocol-v2 websocket connection. Frames wait in a queue
// bounded in bytes; a channel whose frame does not fit is marked lagging
// and skipped, and once the queue has room again the client gets one
// catch-up delta with the latest value of every key that changed (never
// an old value, never a gap). A client lagging for longer than
// slow_timeout is disconnected with close code 4008 and the reason.
type session struct {
	conn *websocket.Conn
	v2   *v2hub
	// client is the page's own id (/ws?client=…): a client cut off as slow
	// learns why when it reconnects, even if the close frame could not
	// get through its full socket.
	client string
	// allowed decides which channels the client may subscribe to.
	allowed func(string) bool
	limit   *auth.MessageLimiter
	// subLimit bounds subscribes (dashboard.wall.subscribes_per_minute).
	subLimit *auth.MessageLimiter
	// who is the principal the access policy let in, from remote (revalidate.go).
	who    auth.Principal
	remote string

	mu       sync.Mutex
	queue    []qframe
	qbytes   int // every queued byte: at most client_queue_bytes of deltas (plus catch-ups)
	cbytes   int // the control frames' share: at most controlReserve
	subs     map[string]*subscription
	slowFrom time.Time // when the client began to lag; zero when not
	closed   bool
	code     int
	reason   string

	wake     chan struct{}
	done     chan struct{}
	readDone chan struct{} // closed when readLoop returns
	lastRecv atomic.Int64
}

// subscription is a session's place in one channel. It is read and
// written under the session's mu (and the channel's, held first).
type subscription struct {
	ch      *channel
	sent    uint64 // sequence of the last frame queued
	lagging bool
	// snap: the subscribe's snapshot did not fit the client's budget; the
	// catch-up that follows is a snapshot, not a delta.
	snap bool
}

func newSession(conn *websocket.Conn, h *v2hub, allowed func(string) bool, limit *auth.MessageLimiter) *session {
	s := &session{conn: conn, v2: h, allowed: allowed, limit: limit, subs: map[string]*subscription{},
		subLimit: auth.NewMessageLimiterPerMinute(h.cfg.SubscribesPerMinute, h.cfg.SubscribeBurst),
		wake:     make(chan struct{}, 1), done: make(chan struct{}), readDone: make(chan struct{})}
	s.lastRecv.Store(time.Now().UnixMilli())
	return s
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// push queues a frame; the caller holds s.mu.
func (s *session) push(f []byte) {
	s.queue = append(s.queue, qframe{b: f})
	s.qbytes += len(f)
	s.signal()
}

// offer queues a channel's delta unless the client lags on that channel
// or the frame would overflow its queue. Called with the channel's mu held.
func (s *session) offer(sub *subscription, f []byte, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if sub.lagging {
		if behind := time.Since(s.slowFrom); behind > s.v2.cfg.SlowTimeout {
			s.v2.m.slow.Inc()
			// The writer sends the reason once its current write is through
			// (a client that reads nothing at all is cut at write_timeout).
			s.closeLocked(closeSlow, "slow consumer: behind for "+behind.Round(time.Second).String()+
				" (dashboard.wall.slow_timeout); reconnect and resume")
		}
		return
	}
	if s.qbytes+len(f) > s.v2.cfg.ClientQueueBytes {
		sub.lagging = true
		if s.slowFrom.IsZero() {
			s.slowFrom = time.Now()
		}
		s.v2.m.coalesced.Inc()
		s.signal()
		return
	}
	s.push(f)
	sub.sent = seq
}

// qframe is a queued frame; ctl marks the session's own frames.
type qframe struct {
	b   []byte
	ctl bool
}

// control queues a frame of the session itself (replies, heartbeats),
// which is never dropped: it counts against the client's byte budget (it
// leaves less room for deltas), and a client whose unsent control frames
// exceed a small reserve (one that asks and never reads the answers) is
// closed as slow instead.
func (s *session) control(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.controlLocked(b)
	s.mu.Unlock()
}

// controlReserve bounds the unsent control frames of a client: an eighth
// of client_queue_bytes (at least 8 KiB).
func (s *session) controlReserve() int { return max(s.v2.cfg.ClientQueueBytes/8, 8<<10) }

func (s *session) controlLocked(b []byte) {
	if s.closed {
		return
	}
	if s.cbytes+len(b) > s.controlReserve() {
		s.v2.m.slow.Inc()
		s.closeLocked(closeSlow, "slow consumer: "+strconv.Itoa(s.cbytes)+" bytes of replies wait for the client "+
			"(an eighth of dashboard.wall.client_queue_bytes); reconnect and resume")
		return
	}
	s.queue = append(s.queue, qframe{b: b, ctl: true})
	s.qbytes += len(b)
	s.cbytes += len(b)
	s.signal()
}

func (s *session) close(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(code, reason)
}

func (s *session) closeLocked(code int, reason string) {
	if s.closed {
		return
	}
	s.closed, s.code, s.reason = true, code, reason
	close(s.done)
	if s.client != "" && code != closeGoingAway {
		s.v2.rememberClose(s.client, code, reason)
	}
}

// run serves the session until it ends: reads in a goroutine, writes here.
func (s *session) run(pingEvery time.Duration) {
	go s.readLoop()
	hello := map[string]any{"type": "hello", "v": 2, "epoch": s.v2.epoch, "server_ms": time.Now().UnixMilli(),
		"heartbeat_ms": s.v2.cfg.Heartbeat.Milliseconds(), "max_message_bytes": s.v2.maxIn,
		"channels": s.allowedNames()}
	if prev, ok := s.v2.previousClose(s.client); ok {
		hello["previous_close"] = prev
	}
	s.control(hello)
	s.writeLoop(pingEvery)
	s.v2.leave(s)
}

func (s *session) allowedNames() []string {
	var out []string
	for _, c := range []string{"wall", "alerts", "kpi", "devices"} {
		if s.allowed(c) {
			out = append(out, c)
		}
	}
	return out
}

func (s *session) writeLoop(pingEvery time.Duration) {
	defer s.conn.Close()
	hb := time.NewTicker(s.v2.cfg.Heartbeat)
	defer hb.Stop()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	wt := s.v2.cfg.writeTimeout
	for {
		select {
		case <-s.done:
			s.mu.Lock()
			code, reason := s.code, s.reason
			s.mu.Unlock()
			_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, truncate(reason, 120)), time.Now().Add(5*time.Second))
			awaitPeerClose(s.readDone)
			return
		case <-hb.C:
			if time.Since(time.UnixMilli(s.lastRecv.Load())) > s.v2.cfg.HeartbeatTimeout {
				s.close(closeHeartbeat, "heartbeat timeout: nothing from the client for "+s.v2.cfg.HeartbeatTimeout.String())
				continue
			}
			s.heartbeat()
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wt)); err != nil {
				s.close(closeGoingAway, "ping failed")
			}
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 || s.closed {
				lag := s.catchUpLocked()
				slowFor := time.Duration(0)
				if !s.slowFrom.IsZero() {
					slowFor = time.Since(s.slowFrom)
				}
				s.mu.Unlock()
				if lag {
					continue // catch-up frames queued
				}
				if slowFor > s.v2.cfg.SlowTimeout {
					s.v2.m.slow.Inc()
					s.close(closeSlow, "slow consumer: behind for "+slowFor.Round(time.Second).String()+
						" (dashboard.wall.slow_timeout); reconnect and resume")
				}
				break
			}
			q := s.queue[0]
			s.queue[0] = qframe{}
			s.queue = s.queue[1:]
			f := q.b
			s.qbytes -= len(f)
			if q.ctl {
				s.cbytes -= len(f)
			}
			s.mu.Unlock()
			_ = s.conn.SetWriteDeadline(time.Now().Add(wt))
			if err := s.conn.WriteMessage(websocket.TextMessage, f); err != nil {
				s.v2.m.slow.Inc()
				s.close(closeSlow, "slow consumer: write failed or timed out")
				break
			}
			s.v2.m.frames.Inc()
		}
	}
}

// catchUpLocked queues a catch-up for every lagging subscription once the
// queue has room; it reports whether it queued anything. It needs the
// channels' locks, which come before the session's: it releases s.mu
// around each.
func (s *session) catchUpLocked() bool {
	if s.closed || s.qbytes > s.v2.cfg.ClientQueueBytes/2 {
		return false
	}
	var lagging []*subscription
	for _, sub := range s.subs {
		if sub.lagging {
			lagging = append(lagging, sub)
		}
	}
	if len(lagging) == 0 {
		if len(s.queue) == 0 {
			s.slowFrom = time.Time{}
		}
		return false
	}
	queued := false
	for _, sub := range lagging {
		s.mu.Unlock()
		sub.ch.mu.Lock()
		s.mu.Lock()
		if sub.lagging && !s.closed {
			f, ok := sub.ch.catchUp(s.v2.epoch, sub.sent)
			if ok && !sub.snap {
				s.push(f)
			} else {
				for _, p := range sub.ch.snapshotFrames(s.v2.epoch, s.v2.cfg.MaxFrameBytes) {
					s.push(p)
				}
			}
			sub.sent, sub.lagging, sub.snap, queued = sub.ch.seq, false, false, true
			s.v2.m.catchUps.Inc()
		}
		sub.ch.mu.Unlock()
	}
	return queued
}

func (s *session) heartbeat() {
	s.mu.Lock()
	seqs := make(map[string]uint64, len(s.subs))
	for name, sub := range s.subs {
		seqs[name] = sub.sent
	}
	s.mu.Unlock()
	s.control(map[string]any{"type": "heartbeat", "server_ms": time.Now().UnixMilli(), "seqs": seqs})
}

// clientMsg is what a v2 client sends.
type clientMsg struct {
	Op    string `json:"op"` // subscribe, unsubscribe, ping
	Ch    string `json:"ch"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	ID    int64  `json:"id"`
}

func (s *session) readLoop() {
	s.conn.SetReadLimit(s.v2.maxIn)
	s.conn.SetPongHandler(func(string) error { s.lastRecv.Store(time.Now().UnixMilli()); return nil })
	defer close(s.readDone)
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				s.close(closeMessageSize, "message larger than "+strconv.FormatInt(s.v2.maxIn, 10)+" bytes")
				discardUntilClosed(s.conn)
			} else {
				s.close(closeGoingAway, "connection closed")
			}
			return
		}
		s.lastRecv.Store(time.Now().UnixMilli())
		if s.limit != nil && !s.limit.Allow() {
			s.close(closeTooMany, "too many messages from the client")
			discardUntilClosed(s.conn)
			return
		}
		var m clientMsg
		if err := json.Unmarshal(b, &m); err != nil {
			s.close(closeBadMessage, "not a protocol v2 message (JSON with op)")
			discardUntilClosed(s.conn)
			return
		}
		switch m.Op {
		case "ping":
			s.control(map[string]any{"type": "pong", "id": m.ID, "server_ms": time.Now().UnixMilli()})
		case "subscribe":
			s.subscribe(m)
		case "unsubscribe":
			s.unsubscribe(m.Ch)
		default:
			s.control(map[string]any{"type": "error", "code": "unknown_op", "message": "op must be subscribe, unsubscribe or ping"})
		}
	}
}

func (s *session) subscribe(m clientMsg) {
	if !s.subLimit.Allow() {
		s.control(map[string]any{"type": "error", "ch": m.Ch, "code": "too_many_subscribes",
			"message": "subscribes are limited to " + strconv.Itoa(s.v2.cfg.SubscribesPerMinute) +
				" a minute (dashboard.wall.subscribes_per_minute); wait and subscribe again"})
		return
	}
	if !s.allowed(m.Ch) {
		s.control(map[string]any{"type": "error", "ch": m.Ch, "code": "forbidden",
			"message": "channel not allowed on this connection (list it in /ws?channels=…; docs/websocket.md)"})
		return
	}
	var ch *channel
	for range 3 {
		if ch = s.v2.channel(m.Ch, true); ch == nil {
			break
		}
		ch.mu.Lock()
		if !ch.dead {
			break
		}
		ch.mu.Unlock()
		ch = nil
	}
	if ch == nil {
		s.control(map[string]any{"type": "error", "ch": m.Ch, "code": "unknown_channel",
			"message": "no such channel (a device:<id> channel needs a registered device)"})
		return
	}
	defer ch.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if old := s.subs[m.Ch]; old != nil {
		delete(old.ch.subs, s) // a re-subscribe starts over
	}
	sub := &subscription{ch: ch}
	mode := "snapshot"
	var frames [][]byte
	if m.Epoch == s.v2.epoch && m.Seq > 0 && m.Seq <= ch.seq {
		if r := ch.replay(m.Seq); r != nil {
			mode, frames = "replay", r
		} else if f, ok := ch.catchUp(s.v2.epoch, m.Seq); ok {
			mode, frames = "catchup", [][]byte{f}
		}
	}
	if mode == "snapshot" {
		frames = ch.snapshotFrames(s.v2.epoch, s.v2.cfg.MaxFrameBytes)
	}
	b, _ := json.Marshal(map[string]any{"type": "subscribed", "ch": m.Ch, "mode": mode, "epoch": s.v2.epoch, "seq": ch.seq})
	s.controlLocked(b)
	if s.closed {
		return
	}
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	if s.qbytes+size <= s.v2.cfg.ClientQueueBytes {
		for _, f := range frames {
			s.push(f)
		}
		sub.sent = ch.seq
	} else {
		// The client's queue has no room for them: the subscription lags
		// and its frames (a snapshot, or a catch-up from the client's
		// sequence) are made once the queue has drained, as for any
		// lagging channel; a client that never drains is closed as slow.
		// So a client that subscribes again and again without reading
		// holds at most its budget, not a snapshot per subscribe.
		sub.lagging, sub.snap = true, mode == "snapshot"
		if !sub.snap {
			sub.sent = m.Seq
		}
		if s.slowFrom.IsZero() {
			s.slowFrom = time.Now()
		}
		s.v2.m.coalesced.Inc()
		s.signal()
	}
	s.subs[m.Ch] = sub
	ch.subs[s] = sub
	s.v2.m.subscribes.WithLabelValues(mode).Inc()
}

func (s *session) unsubscribe(name string) {
	s.mu.Lock()
	sub := s.subs[name]
	delete(s.subs, name)
	s.mu.Unlock()
	if sub == nil {
		return
	}
	sub.ch.mu.Lock()
	delete(sub.ch.subs, s)
	sub.ch.mu.Unlock()
}

// channelsAllowed builds the check of which channels a connection may
// subscribe to: those named in its URL (/ws?v=2&channels=wall,alerts), which
// the access policy checked against the principal at the upgrade; "devices"
// allows every device:<id>. Without a list, only "wall".
func channelsAllowed(query []string) func(string) bool {
	named := map[string]bool{}
	for _, v := range query {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				named[c] = true
			}
		}
	}
	if len(named) == 0 {
		named["wall"] = true
	}
	return func(ch string) bool {
		if strings.HasPrefix(ch, "device:") {
			return named["devices"] || named[ch]
		}
		return named[ch]
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
