package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// frameTimes calls fn with the observation time (ms) of every metric value
// of a wall delta (`"t"` in a device's value). It scans for the "t" key
// instead of decoding the frame, so that a client can keep up with the
// wall at full rate; the readings the benchmark sends carry no text that
// could contain `"t":`. Snapshots count nothing.
func frameTimes(frame []byte, fn func(ms int64)) {
	if bytes.HasPrefix(frame, v2SnapshotPrefix) {
		return
	}
	key := []byte(`"t":`)
	for {
		i := bytes.Index(frame, key)
		if i < 0 {
			return
		}
		frame = frame[i+len(key):]
		var v int64
		n := 0
		for n < len(frame) && frame[n] >= '0' && frame[n] <= '9' {
			v = v*10 + int64(frame[n]-'0')
			n++
		}
		if n > 0 {
			fn(v)
		}
	}
}

// WallStats is what wall clients saw in a window.
type WallStats struct {
	Clients        int     `json:"clients"`
	ConnectSeconds float64 `json:"connect_s,omitempty"`
	DialFailures   int64   `json:"dial_failures,omitempty"`
	Frames         int64   `json:"frames"`
	// FramesPerClient is the most any client received; Delivered is the
	// share of that every client received on average (1 = no client
	// missed a frame).
	FramesPerClient int64   `json:"frames_per_client"`
	Delivered       float64 `json:"delivered"`
	Readings        int64   `json:"readings"`
	Disconnects     int64   `json:"disconnects"`
	Latency         Summary `json:"latency"`
	// Stalled clients (not counted in Clients, Frames or Latency) stop
	// reading once subscribed.
	Stalled int `json:"stalled,omitempty"`
	// CoalescedClients (v2) got at least one delta covering several
	// sequences: the server merged deltas for them (latest value per key,
	// nothing of the state lost), which it does for a client behind, so
	// they count fewer frames.
	CoalescedClients int `json:"coalesced_clients,omitempty"`
}

// Wall is a set of websocket clients of the dashboard. Each counts the
// frames that carry readings of the current window and records, for every
// such reading, receive time minus observation time (same clock: the
// benchmark publishes and receives on one machine).
type Wall struct {
	url     string
	clients []*wallClient
	since   atomic.Int64 // window start, ms
	rec     atomic.Pointer[Recorder]
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	failed  atomic.Int64
	connect time.Duration
}

type wallClient struct {
	frames, readings, drops atomic.Int64
	stalled                 bool        // stops reading after its snapshot
	ready                   atomic.Bool // its snapshot has arrived
	coalesced               atomic.Bool // got a delta covering several sequences in the window
}

// wallURL is the URL of the wall channel (docs/websocket.md), the one the
// wall's pages use; each client adds its id.
const wallURL = "/ws?channels=wall&client="

// DialWall connects n clients to the wall channel, as the wall's pages do:
// each subscribes, sends a ping every 5 s (within the server's heartbeat
// timeout), and counts the deltas carrying readings of the window (`"t"`,
// the observation time, of each metric in a device's value). With
// reconnect, a dropped client dials again and resubscribes (the latency
// client); otherwise it stays dropped and counts (the fan-out swarm). The
// first `stalled` clients stop reading once subscribed, with their
// connection open: what a frozen browser tab does to the server.
func DialWall(ctx context.Context, addr string, n, stalled int, reconnect bool) (*Wall, error) {
	return dialWall(ctx, "ws://"+addr+wallURL, n, stalled, reconnect)
}

func dialWall(ctx context.Context, url string, n, stalled int, reconnect bool) (*Wall, error) {
	w := &Wall{url: url, clients: make([]*wallClient, n)}
	w.rec.Store(NewRecorder(1 << 20))
	w.ctx, w.cancel = context.WithCancel(ctx)
	dialer := &websocket.Dialer{ReadBufferSize: 4096, WriteBufferSize: 512, HandshakeTimeout: 60 * time.Second}
	// A stalled client's socket takes 4 KiB, so that the server feels it
	// within seconds (a frozen tab on a slow link), not after the
	// megabytes a loopback socket would otherwise absorb.
	stalledDialer := *dialer
	stalledDialer.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	var mu sync.Mutex
	conns := make([]*websocket.Conn, n)
	for i := range w.clients {
		w.clients[i] = &wallClient{stalled: i < stalled}
		g.Go(func() error {
			var conn *websocket.Conn
			var err error
			url := w.url + "bench-" + strconv.Itoa(i)
			for attempt := 0; attempt < 3; attempt++ {
				d := dialer
				if i < stalled {
					d = &stalledDialer
				}
				conn, _, err = d.DialContext(gctx, url, nil)
				if err == nil {
					break
				}
				time.Sleep(200 * time.Millisecond) // a pause between dial retries, not a wait for a condition
			}
			if err != nil {
				w.failed.Add(1)
				return nil
			}
			mu.Lock()
			conns[i] = conn
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	w.connect = time.Since(start)
	if int(w.failed.Load()) == n {
		w.cancel()
		return nil, fmt.Errorf("no websocket client could connect to %s", w.url)
	}
	for i, conn := range conns {
		if conn == nil {
			continue
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.read(conn, dialer, w.url+"bench-"+strconv.Itoa(i), w.clients[i], reconnect)
		}()
	}
	return w, nil
}

// read runs a client's connections: with reconnect, a dropped one dials
// again until the end.
func (w *Wall) read(conn *websocket.Conn, dialer *websocket.Dialer, url string, c *wallClient, reconnect bool) {
	for {
		w.readConn(conn, c)
		if !reconnect || w.ctx.Err() != nil {
			return
		}
		var err error
		for w.ctx.Err() == nil {
			if conn, _, err = dialer.DialContext(w.ctx, url, nil); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond) // a pause between dial retries
		}
		if w.ctx.Err() != nil {
			return
		}
	}
}

// readConn subscribes to the wall channel and reads its frames until the
// connection ends; a stalled client stops reading once subscribed and
// waits for the end.
func (w *Wall) readConn(conn *websocket.Conn, c *wallClient) {
	stop := context.AfterFunc(w.ctx, func() { conn.Close() })
	defer func() { stop(); conn.Close() }()
	var wmu sync.Mutex
	send := func(m string) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteMessage(websocket.TextMessage, []byte(m))
	}
	if err := send(`{"op":"subscribe","ch":"wall"}`); err != nil {
		c.drops.Add(1)
		return
	}
	if c.stalled {
		c.ready.Store(true)
		<-w.ctx.Done()
		return
	}
	pinger := time.NewTicker(5 * time.Second)
	defer pinger.Stop()
	go func() {
		for id := 1; ; id++ {
			select {
			case <-w.ctx.Done():
				return
			case <-pinger.C:
				if send(`{"op":"ping","id":`+strconv.Itoa(id)+`}`) != nil {
					return
				}
			}
		}
	}()
	var lat []int64
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			if w.ctx.Err() == nil {
				c.drops.Add(1)
			}
			return
		}
		if !bytes.HasPrefix(b, deltaPrefix) {
			if !c.ready.Load() && bytes.HasPrefix(b, v2SnapshotPrefix) && bytes.Contains(b, []byte(`"last":true`)) {
				c.ready.Store(true)
			}
			continue // hello, subscribed, snapshot, heartbeat, pong
		}
		// A delta covers the sequences from..seq: more than one when the
		// server coalesced them for a client that fell behind.
		if seq, from := headInt(b, `"seq":`), headInt(b, `"from":`); seq > from && from > 0 {
			c.coalesced.Store(true)
		}
		lat = w.count(c, b, lat)
	}
}

// count records a frame's readings of the current window for client c;
// lat is a reused buffer.
func (w *Wall) count(c *wallClient, frame []byte, lat []int64) []int64 {
	now := time.Now().UnixMicro()
	since := w.since.Load()
	lat = lat[:0]
	frameTimes(frame, func(t int64) {
		if t >= since {
			lat = append(lat, now-t*1000)
		}
	})
	if len(lat) > 0 {
		c.frames.Add(1)
		c.readings.Add(int64(len(lat)))
		w.rec.Load().AddMany(lat)
	}
	return lat
}

var (
	deltaPrefix      = []byte(`{"type":"delta"`)
	v2SnapshotPrefix = []byte(`{"type":"snapshot"`)
)

// headInt reads the integer after key in the first 200 bytes of a frame
// (0 if absent).
func headInt(frame []byte, key string) int64 {
	head := frame[:min(len(frame), 200)]
	i := bytes.Index(head, []byte(key))
	if i < 0 {
		return 0
	}
	var v int64
	for _, ch := range head[i+len(key):] {
		if ch < '0' || ch > '9' {
			break
		}
		v = v*10 + int64(ch-'0')
	}
	return v
}

// WaitSnapshots waits until every connected client has its whole
// snapshot (or timeout), so that a window measures the live updates, not
// the connection storm. It returns how many have it.
func (w *Wall) WaitSnapshots(ctx context.Context, timeout time.Duration) int {
	n := 0
	testpoll.Poll(timeout, testpoll.Interval, func() bool {
		n = 0
		for _, c := range w.clients {
			if c.ready.Load() {
				n++
			}
		}
		return n >= len(w.clients)-int(w.failed.Load()) || ctx.Err() != nil
	})
	return n
}

// Begin starts a window: only readings observed from now on count.
func (w *Wall) Begin() {
	w.rec.Store(NewRecorder(1 << 20))
	for _, c := range w.clients {
		c.frames.Store(0)
		c.readings.Store(0)
		c.drops.Store(0)
		c.coalesced.Store(false)
	}
	w.since.Store(time.Now().UnixMilli())
}

// End reads the window's figures.
func (w *Wall) End() WallStats {
	st := WallStats{Clients: len(w.clients) - int(w.failed.Load()), ConnectSeconds: round2(w.connect.Seconds()),
		DialFailures: w.failed.Load(), Latency: w.rec.Load().Summary()}
	for _, c := range w.clients {
		if c.stalled {
			st.Stalled++
			st.Clients--
			continue
		}
		if c.coalesced.Load() {
			st.CoalescedClients++
		}
		f := c.frames.Load()
		st.Frames += f
		st.FramesPerClient = max(st.FramesPerClient, f)
		st.Readings += c.readings.Load()
		st.Disconnects += c.drops.Load()
	}
	if st.FramesPerClient > 0 && st.Clients > 0 {
		st.Delivered = float64(st.Frames) / float64(st.FramesPerClient*int64(st.Clients))
		st.Delivered = float64(int64(st.Delivered*10000)) / 10000
	}
	return st
}

// Close disconnects every client.
func (w *Wall) Close() {
	w.cancel()
	w.wg.Wait()
}
