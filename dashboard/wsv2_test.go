package dashboard

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// v2Server is a dashboard without Kafka or ClickHouse: the test feeds its
// wall model and flushes it by hand.
func v2Server(t *testing.T, wall WallConfig) (*Service, *httptest.Server) {
	t.Helper()
	s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory", DevOpen: true}, Wall: wall},
		kafkaconn.Config{}, chconn.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Parse(strings.NewReader(`device_id,partner,type,ward,name,lat,lon,interval_s
aq-1,viettel,air_quality,Phường Chiềng Lề,AQ 1,21.33,103.90,60
water-1,viettel,water_level,Xã Chiềng Cọ,Nậm La 1,21.34,103.89,60
`))
	if err != nil {
		t.Fatal(err)
	}
	s.wall.setRegistry(reg.Devices(), "test")
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { s.v2.closeAll("test over") })
	return s, srv
}

// v2Client is a protocol-v2 client that records every frame.
type v2Client struct {
	t    *testing.T
	conn *websocket.Conn
	mu   sync.Mutex
	msgs []map[string]any
	raw  [][]byte
	err  error
	code int
	why  string
}

func dialV2(t *testing.T, srv *httptest.Server, channels string, read bool) *v2Client {
	t.Helper()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?v=2&channels=" + channels
	conn, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	c := &v2Client{t: t, conn: conn}
	t.Cleanup(func() { conn.Close() })
	if read {
		go c.readAll()
	}
	return c
}

func (c *v2Client) readAll() {
	for {
		_, b, err := c.conn.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.err = err
			if ce, ok := err.(*websocket.CloseError); ok {
				c.code, c.why = ce.Code, ce.Text
			}
			c.mu.Unlock()
			return
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		c.msgs = append(c.msgs, m)
		c.raw = append(c.raw, b)
		c.mu.Unlock()
	}
}

func (c *v2Client) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// wait polls until cond holds on the frames received.
func (c *v2Client) wait(what string, cond func(msgs []map[string]any) bool) {
	c.t.Helper()
	if testpoll.Poll(10*time.Second, 10*time.Millisecond, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return cond(c.msgs)
	}) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var types []string
	for _, m := range c.msgs {
		types = append(types, fmt.Sprintf("%v/%v/%v", m["type"], m["ch"], m["seq"]))
	}
	if len(types) > 20 {
		types = types[len(types)-20:]
	}
	c.t.Fatalf("%s: not seen in %d frames (last: %v; err %v)", what, len(c.msgs), types, c.err)
}

// frames returns the channel frames (snapshot and delta) of a channel.
func (c *v2Client) frames(ch string) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, m := range c.msgs {
		if m["ch"] == ch && (m["type"] == "snapshot" || m["type"] == "delta") {
			out = append(out, m)
		}
	}
	return out
}

func num2(device, metric string, v float64, at time.Time) *event.Reading {
	r := &event.Reading{Partner: "viettel", DeviceID: device, Metric: metric, Kind: event.KindNumber, Value: v,
		ObservedMs: at.UnixMilli(), ReceivedMs: at.UnixMilli(), Registered: true}
	r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
	return r
}

func seqOf(m map[string]any) uint64  { v, _ := m["seq"].(float64); return uint64(v) }
func fromOf(m map[string]any) uint64 { v, _ := m["from"].(float64); return uint64(v) }

// levels collects the water-level values a client saw in its frames, in order.
func levels(frames []map[string]any) []float64 {
	var out []float64
	for _, f := range frames {
		set, _ := f["set"].(map[string]any)
		d, _ := set["d/water-1"].(map[string]any)
		m, _ := d["m"].(map[string]any)
		lv, _ := m["level"].(map[string]any)
		if v, ok := lv["v"].(float64); ok {
			out = append(out, v)
		}
	}
	return out
}

// Subscribe gives a snapshot and then deltas numbered one by one; a client
// that reconnects with its epoch and last sequence gets exactly the deltas
// it missed (no gap, no duplicate), from the ring or, further back, as one
// catch-up with the latest value per key; another epoch gets a snapshot.
func TestProtocolV2SnapshotDeltasAndResume(t *testing.T) {
	s, srv := v2Server(t, WallConfig{})
	now := time.Now()
	s.wall.reading(num2("water-1", "level", 1.0, now))
	s.wall.flush()

	a := dialV2(t, srv, "wall,alerts", true)
	a.wait("hello", func(ms []map[string]any) bool { return len(ms) > 0 && ms[0]["type"] == "hello" })
	a.send(map[string]any{"op": "subscribe", "ch": "wall"})
	a.wait("snapshot", func(ms []map[string]any) bool { return len(a.framesLocked(ms, "wall")) > 0 })
	snap := a.frames("wall")[0]
	if snap["type"] != "snapshot" || snap["last"] != true || levels([]map[string]any{snap})[0] != 1.0 {
		t.Fatalf("first frame: %v", snap)
	}
	epoch := snap["epoch"].(string)
	for i := 1; i <= 5; i++ {
		s.wall.reading(num2("water-1", "level", 1.0+float64(i)/10, now.Add(time.Duration(i)*time.Second)))
		s.wall.flush()
	}
	a.wait("five deltas", func(ms []map[string]any) bool { return len(a.framesLocked(ms, "wall")) >= 6 })
	fr := a.frames("wall")
	for i := 1; i < len(fr); i++ {
		if seqOf(fr[i]) != seqOf(fr[i-1])+1 || fromOf(fr[i]) != seqOf(fr[i]) {
			t.Fatalf("delta %d: seq %d from %d after %d", i, seqOf(fr[i]), fromOf(fr[i]), seqOf(fr[i-1]))
		}
	}
	if got := fmt.Sprint(levels(fr)); got != "[1 1.1 1.2 1.3 1.4 1.5]" {
		t.Errorf("levels seen: %s", got)
	}
	last := seqOf(fr[2]) // pretend the client lost the connection after the third frame

	// Resume from the ring: exactly the frames after `last`.
	b := dialV2(t, srv, "wall", true)
	b.send(map[string]any{"op": "subscribe", "ch": "wall", "epoch": epoch, "seq": last})
	b.wait("replay", func(ms []map[string]any) bool { return len(b.framesLocked(ms, "wall")) >= 3 })
	if m := b.subscribed("wall"); m["mode"] != "replay" {
		t.Errorf("resume mode %v, want replay", m["mode"])
	}
	rf := b.frames("wall")
	if seqOf(rf[0]) != last+1 || fmt.Sprint(levels(rf)) != "[1.3 1.4 1.5]" {
		t.Errorf("replayed: first seq %d (want %d), levels %v", seqOf(rf[0]), last+1, levels(rf))
	}

	// Beyond the ring (it holds nothing here): one catch-up delta.
	s.v2.channels["wall"].mu.Lock()
	s.v2.channels["wall"].ring = nil
	s.v2.channels["wall"].mu.Unlock()
	c := dialV2(t, srv, "wall", true)
	c.send(map[string]any{"op": "subscribe", "ch": "wall", "epoch": epoch, "seq": last})
	c.wait("catch-up", func(ms []map[string]any) bool { return len(c.framesLocked(ms, "wall")) >= 1 })
	if m := c.subscribed("wall"); m["mode"] != "catchup" {
		t.Errorf("resume mode %v, want catchup", m["mode"])
	}
	cf := c.frames("wall")[0]
	if fromOf(cf) != last+1 || seqOf(cf) != seqOf(fr[len(fr)-1]) || fmt.Sprint(levels([]map[string]any{cf})) != "[1.5]" {
		t.Errorf("catch-up: from %d seq %d levels %v", fromOf(cf), seqOf(cf), levels([]map[string]any{cf}))
	}

	// Another epoch (the dashboard restarted): a snapshot.
	d := dialV2(t, srv, "wall", true)
	d.send(map[string]any{"op": "subscribe", "ch": "wall", "epoch": "0000", "seq": last})
	d.wait("snapshot", func(ms []map[string]any) bool { return len(d.framesLocked(ms, "wall")) >= 1 })
	if d.frames("wall")[0]["type"] != "snapshot" {
		t.Errorf("other epoch: %v", d.frames("wall")[0]["type"])
	}

	// Channels not named in the URL are refused.
	d.send(map[string]any{"op": "subscribe", "ch": "alerts"})
	d.wait("forbidden", func(ms []map[string]any) bool {
		for _, m := range ms {
			if m["type"] == "error" && m["code"] == "forbidden" {
				return true
			}
		}
		return false
	})
	// A device channel: the device's metrics.
	e := dialV2(t, srv, "wall,devices", true)
	e.send(map[string]any{"op": "subscribe", "ch": "device:water-1"})
	e.wait("device snapshot", func(ms []map[string]any) bool { return len(e.framesLocked(ms, "device:water-1")) >= 1 })
	if set, _ := e.frames("device:water-1")[0]["set"].(map[string]any); set["m/level"] == nil {
		t.Errorf("device channel snapshot: %v", set)
	}
	s.wall.reading(num2("water-1", "level", 2.2, now.Add(time.Minute)))
	s.wall.flush()
	e.wait("device delta", func(ms []map[string]any) bool { return len(e.framesLocked(ms, "device:water-1")) >= 2 })
}

func (c *v2Client) framesLocked(ms []map[string]any, ch string) []map[string]any {
	var out []map[string]any
	for _, m := range ms {
		if m["ch"] == ch && (m["type"] == "snapshot" || m["type"] == "delta") {
			out = append(out, m)
		}
	}
	return out
}

func (c *v2Client) subscribed(ch string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if m["type"] == "subscribed" && m["ch"] == ch {
			return m
		}
	}
	return nil
}

// A client that does not read fills its queue: its channel coalesces, and
// when it reads again it gets one catch-up with the latest value (nothing
// older, no gap); one that stays behind is disconnected with a reason.
func TestProtocolV2SlowClient(t *testing.T) {
	s, srv := v2Server(t, WallConfig{ClientQueueBytes: 64 << 10, SlowTimeout: time.Minute})
	now := time.Now()
	s.wall.reading(num2("water-1", "level", 1.0, now))
	s.wall.flush()
	c := dialV2(t, srv, "wall", false) // does not read yet
	c.send(map[string]any{"op": "subscribe", "ch": "wall"})
	testpoll.Eventually(t, 10*time.Second, "the subscription taken", func() (bool, string) {
		n := testCounter(t, s.v2.m.subscribes.WithLabelValues("snapshot"))
		return n == 1, fmt.Sprintf("%v snapshot subscribes", n)
	})
	// Far more than the queue holds, in many flushes; the socket's buffers
	// fill and the writer blocks, then the queue, then the channel lags.
	pad := strings.Repeat("x", 20000)
	for i := 0; i < 3000; i++ {
		s.wall.reading(num2("water-1", "level", float64(i), now.Add(time.Duration(i+1)*time.Millisecond)))
		s.wall.reading(&event.Reading{Partner: "viettel", DeviceID: "aq-1", Metric: "note", Kind: event.KindString,
			String: pad + fmt.Sprint(i), ObservedMs: now.UnixMilli() + int64(i), ReceivedMs: now.UnixMilli() + int64(i)})
		s.wall.flush()
	}
	if n := testCounter(t, s.v2.m.coalesced); n == 0 {
		t.Fatal("no delta was coalesced for the stalled client")
	}
	go c.readAll()
	c.wait("the latest value", func(ms []map[string]any) bool {
		l := levels(c.framesLocked(ms, "wall"))
		return len(l) > 0 && l[len(l)-1] == 2999
	})
	// Sequences never go back and never skip: each frame starts where the
	// previous one ended (a catch-up spans several sequences).
	fr := c.frames("wall")
	for i := 1; i < len(fr); i++ {
		if fromOf(fr[i]) != seqOf(fr[i-1])+1 {
			t.Fatalf("frame %d: from %d after seq %d", i, fromOf(fr[i]), seqOf(fr[i-1]))
		}
	}
	if testCounter(t, s.v2.m.catchUps) == 0 {
		t.Error("no catch-up was sent")
	}

	// A client that never reads again is cut off. The reason cannot get
	// through its full socket; it learns it when it reconnects.
	s, srv = v2Server(t, WallConfig{ClientQueueBytes: 64 << 10, SlowTimeout: 2 * time.Second})
	d := dialV2(t, srv, "wall&client=stalled-page-1", false)
	d.send(map[string]any{"op": "subscribe", "ch": "wall"})
	stop := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(stop) && testCounter(t, s.v2.m.slow) == 0; i++ {
		s.wall.reading(&event.Reading{Partner: "viettel", DeviceID: "aq-1", Metric: "note", Kind: event.KindString,
			String: pad + fmt.Sprint(i), ObservedMs: time.Now().UnixNano() / 1000, ReceivedMs: now.UnixMilli()})
		s.wall.flush()
		time.Sleep(time.Millisecond) // paces the flood: the writer's stall over time is the subject
	}
	if testCounter(t, s.v2.m.slow) == 0 {
		t.Fatal("the stalled client was not disconnected")
	}
	again := dialV2(t, srv, "wall&client=stalled-page-1", true)
	again.wait("the reason, on reconnect", func(ms []map[string]any) bool {
		if len(ms) == 0 || ms[0]["type"] != "hello" {
			return false
		}
		prev, _ := ms[0]["previous_close"].(map[string]any)
		why, _ := prev["reason"].(string)
		return prev["code"] == float64(closeSlow) && strings.Contains(why, "slow consumer")
	})
}

// Heartbeats both ways: the server's carry the sequence sent per channel;
// a ping is answered; a client silent past the timeout is disconnected.
// Oversized messages and foreign origins are refused.
func TestProtocolV2HeartbeatsAndLimits(t *testing.T) {
	s, srv := v2Server(t, WallConfig{Heartbeat: 150 * time.Millisecond, HeartbeatTimeout: 600 * time.Millisecond})
	_ = s
	c := dialV2(t, srv, "wall", true)
	c.send(map[string]any{"op": "subscribe", "ch": "wall"})
	c.send(map[string]any{"op": "ping", "id": 7})
	c.wait("pong and heartbeat", func(ms []map[string]any) bool {
		pong, hb := false, false
		for _, m := range ms {
			pong = pong || m["type"] == "pong" && m["id"] == 7.0
			if m["type"] == "heartbeat" {
				seqs, _ := m["seqs"].(map[string]any)
				_, hb = seqs["wall"]
			}
		}
		return pong && hb
	})
	// The gorilla client answers the server's pings, but with pings every
	// 30 s the silence here is longer than the timeout.
	c.wait("heartbeat timeout", func(ms []map[string]any) bool { return c.code == closeHeartbeat })

	big := dialV2(t, srv, "wall", true)
	_ = big.conn.WriteJSON(map[string]any{"op": "subscribe", "ch": strings.Repeat("w", 64<<10)}) // the server may close mid-write
	big.wait("message too big", func(ms []map[string]any) bool { return big.code == websocket.CloseMessageTooBig })

	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?v=2&channels=wall"
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %v %v, want 403", err, resp)
	}
}

func testCounter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// /ws speaks protocol v2 whatever the URL says (the first protocol is
// gone): a client with no parameter gets a hello and the wall channel, and
// the KPI page's URL (/ws?channels=kpi) gets every tile on the kpi channel,
// then the tiles that change, keyed by tile id.
func TestOneProtocolOnWS(t *testing.T) {
	s, srv := v2Server(t, WallConfig{})
	tile := func(id string, v float64) {
		tl := event.Tile{ID: id, Value: &v, ComputedMs: time.Now().UnixMilli()}
		raw, err := event.MarshalTile(&tl)
		if err != nil {
			t.Fatal(err)
		}
		s.putTile(tl, raw)
	}
	tile("reform_plan.done", 51.4)
	for _, query := range []string{"", "?channels=kpi"} {
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws" + query
		conn, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {srv.URL}})
		if err != nil {
			t.Fatalf("dial %s: %v (%v)", url, err, resp)
		}
		c := &v2Client{t: t, conn: conn}
		t.Cleanup(func() { conn.Close() })
		go c.readAll()
		c.wait("hello of protocol 2 on /ws"+query, func(msgs []map[string]any) bool {
			return len(msgs) > 0 && msgs[0]["type"] == "hello" && msgs[0]["v"] == float64(2)
		})
		if query == "" {
			c.send(map[string]any{"op": "subscribe", "ch": "wall"})
			c.wait("wall snapshot", func(msgs []map[string]any) bool {
				return slices.ContainsFunc(msgs, func(m map[string]any) bool { return m["type"] == "snapshot" && m["ch"] == "wall" })
			})
			continue
		}
		c.send(map[string]any{"op": "subscribe", "ch": "kpi"})
		c.wait("kpi snapshot with the tile", func(msgs []map[string]any) bool {
			return slices.ContainsFunc(msgs, func(m map[string]any) bool {
				set, _ := m["set"].(map[string]any)
				return m["type"] == "snapshot" && m["ch"] == "kpi" && set["reform_plan.done"] != nil
			})
		})
		tile("documents.signed", 95.8)
		s.v2.flush()
		c.wait("kpi delta with the new tile", func(msgs []map[string]any) bool {
			return slices.ContainsFunc(msgs, func(m map[string]any) bool {
				set, _ := m["set"].(map[string]any)
				tl, _ := set["documents.signed"].(map[string]any)
				return m["type"] == "delta" && m["ch"] == "kpi" && tl != nil && tl["value"] == 95.8
			})
		})
	}
}
