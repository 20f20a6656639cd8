package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// Every page of the wall, read from the running server, carries the strict
// Content-Security-Policy: no websocket to any host (connect-src 'self'
// covers the page's own ws:// and wss://), no plugins, no <base>.
func TestWallPagesCarryTheStrictCSP(t *testing.T) {
	_, srv := v2Server(t, WallConfig{})
	for _, path := range []string{"/", "/index.html", "/app.js", "/style.css", "/kpi/", "/kpi/index.html", "/kpi/kpi.js", "/login", "/admin", "/api/latest"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if csp != auth.ContentSecurityPolicy {
			t.Errorf("GET %s (%d): Content-Security-Policy %q, want %q", path, resp.StatusCode, csp, auth.ContentSecurityPolicy)
		}
		for _, bad := range []string{"ws:", "wss:", "*", "unsafe-inline", "unsafe-eval"} {
			if strings.Contains(csp, bad) {
				t.Errorf("GET %s: the policy allows %s: %q", path, bad, csp)
			}
		}
		for _, want := range []string{"connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: the policy lacks %s: %q", path, want, csp)
			}
		}
	}
}

// Query parameters that are numbers refuse NaN and the infinities, which
// ParseFloat reads and every comparison lets through.
func TestHistoryHoursRefusesNaNAndInfinities(t *testing.T) {
	_, srv := v2Server(t, WallConfig{})
	for _, c := range []struct {
		step  string // "" or "&step=hour", whose bound is 31 days
		hours []string
		names string // what the message must name
	}{
		{"", []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity", "0", "-1", "73", "1e400", "six", "0x10"}, "history_max_hours"},
		{"&step=hour", []string{"NaN", "-Inf", "0", "745", "six"}, "with step=hour, hours must be a number above 0 and at most 744"},
	} {
		for _, h := range c.hours {
			resp, err := http.Get(srv.URL + "/api/history?metric=aqi" + c.step + "&hours=" + h)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ Error, Message string }
			_ = json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Error != "bad_hours" || !strings.Contains(e.Message, c.names) {
				t.Errorf("hours=%s%s: %d %s, want 400 bad_hours with what to send", h, c.step, resp.StatusCode, body)
			}
		}
	}
}

// kioskServer is a dashboard without Kafka or ClickHouse, closed (no
// dev_open), whose wall holds n devices with a reading each; accepted
// connections get small socket buffers, so that a client that does not
// read stalls the writer at once instead of after megabytes.
func kioskServer(t *testing.T, wall WallConfig, n int) (*Service, *httptest.Server, string) {
	t.Helper()
	return kioskServerBuffers(t, wall, n, true)
}

func kioskServerBuffers(t *testing.T, wall WallConfig, n int, small bool) (*Service, *httptest.Server, string) {
	t.Helper()
	s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory"}, Wall: wall},
		kafkaconn.Config{}, chconn.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("device_id,partner,type,ward,name,lat,lon,interval_s\n")
	for i := range n {
		fmt.Fprintf(&csv, "aq-%04d,viettel,air_quality,Phường Chiềng Lề,Trạm quan trắc không khí %d,21.33,103.90,60\n", i, i)
	}
	reg, err := registry.Parse(strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	s.wall.setRegistry(reg.Devices(), "test")
	now := time.Now()
	for i := range n {
		r := num2(fmt.Sprintf("aq-%04d", i), "pm25", float64(i), now)
		s.wall.reading(r)
	}
	s.wall.flush()
	srv := httptest.NewUnstartedServer(s.routes())
	if small {
		srv.Listener = smallBuffers{srv.Listener}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { s.v2.closeAll("test over") })
	_, tok, err := s.Auth().CreateKiosk(t.Context(), "wall", auth.Principal{Name: "test", Role: auth.RoleAdmin}, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, srv, tok
}

type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// nonReader dials /ws as a kiosk with a small receive buffer and never
// reads.
func nonReader(t *testing.T, srv *httptest.Server, tok, query string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws"+query,
		http.Header{"Authorization": {"Bearer " + tok}, "Origin": {srv.URL}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A kiosk that subscribes again and again without reading a byte holds at
// most its byte budget (client_queue_bytes plus the control reserve, plus
// the one snapshot being written), not a snapshot per subscribe; it is
// then closed as slow, and learns it on reconnect.
func TestSubscribeFloodFromANonReadingKioskStaysBounded(t *testing.T) {
	s, srv, tok := kioskServer(t, WallConfig{ClientQueueBytes: 64 << 10}, 1500)
	snapshot := 0
	wall := s.v2.channel("wall", false)
	wall.mu.Lock()
	for _, f := range wall.snapshotFrames(s.v2.epoch, s.v2.cfg.MaxFrameBytes) {
		snapshot += len(f)
	}
	wall.mu.Unlock()
	if snapshot < 4*s.v2.cfg.ClientQueueBytes {
		t.Fatalf("the wall's snapshot is %d bytes: too small to show anything", snapshot)
	}
	conn := nonReader(t, srv, tok, "?v=2&channels=wall&client=flooding-kiosk-1")
	const flood = 20 // within the subscribe burst and the message rate: every one is served
	for range flood {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","ch":"wall"}`)); err != nil {
			t.Fatal(err)
		}
	}
	var sess *session
	peak := 0
	testpoll.Eventually(t, 20*time.Second, "the server took every subscribe", func() (bool, string) {
		s.v2.mu.Lock()
		for x := range s.v2.sessions {
			sess = x
		}
		s.v2.mu.Unlock()
		if sess != nil {
			sess.mu.Lock()
			peak = max(peak, sess.qbytes)
			sess.mu.Unlock()
		}
		var n float64
		for _, mode := range []string{"snapshot", "replay", "catchup"} {
			n += testCounter(t, s.v2.m.subscribes.WithLabelValues(mode))
		}
		s.v2.mu.Lock()
		closes := fmt.Sprint(s.v2.closes)
		s.v2.mu.Unlock()
		return n >= flood, fmt.Sprintf("%v subscribes; closed: %s", n, closes)
	})
	sess.mu.Lock()
	peak = max(peak, sess.qbytes)
	sess.mu.Unlock()
	bound := s.v2.cfg.ClientQueueBytes + max(s.v2.cfg.ClientQueueBytes/8, 8<<10) + snapshot // budget, control reserve, the snapshot being written
	t.Logf("%d subscribes of a %d-byte snapshot: at most %d bytes queued (bound %d)", flood, snapshot, peak, bound)
	if peak > bound {
		t.Errorf("%d subscribes of a %d-byte snapshot queued %d bytes for a client that reads nothing; the bound is %d",
			flood, snapshot, peak, bound)
	}
	testpoll.Eventually(t, 30*time.Second, "the flooding kiosk is closed as slow", func() (bool, string) {
		return s.v2.count() == 0 && testCounter(t, s.v2.m.slow) > 0, fmt.Sprintf("%d sessions", s.v2.count())
	})
	again := nonReader(t, srv, tok, "?v=2&channels=wall&client=flooding-kiosk-1")
	_ = again.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello map[string]any
	if err := again.ReadJSON(&hello); err != nil {
		t.Fatal(err)
	}
	prev, _ := hello["previous_close"].(map[string]any)
	if why, _ := prev["reason"].(string); prev["code"] != float64(closeSlow) || !strings.Contains(why, "slow consumer") {
		t.Errorf("hello after the flood: previous_close %v, want %d slow consumer", prev, closeSlow)
	}
}

// Subscribes are rate limited per connection: beyond the burst (default
// 20) the client gets an error naming the setting, and no snapshot.
func TestSubscribesAreRateLimited(t *testing.T) {
	_, srv := v2Server(t, WallConfig{})
	c := dialV2(t, srv, "wall", true)
	for range 25 {
		c.send(map[string]any{"op": "subscribe", "ch": "wall"})
	}
	count := func(ms []map[string]any) (served, refused int) {
		for _, m := range ms {
			switch {
			case m["type"] == "subscribed":
				served++
			case m["type"] == "error" && m["code"] == "too_many_subscribes" && strings.Contains(fmt.Sprint(m["message"]), "subscribes_per_minute"):
				refused++
			}
		}
		return
	}
	c.wait("25 answers", func(ms []map[string]any) bool { a, b := count(ms); return a+b == 25 })
	c.mu.Lock()
	served, refused := count(c.msgs)
	c.mu.Unlock()
	if served != 20 || refused != 5 {
		t.Errorf("25 subscribes at once: %d served, %d refused; want the burst of 20 served", served, refused)
	}
}

// One kiosk token (or account) holds at most ws_connections_per_principal
// websockets: the next upgrade is refused with 429; once one closes, a new
// one is accepted. Another kiosk is not affected.
func TestWebsocketsPerPrincipalAreCapped(t *testing.T) {
	s, srv, tok := kioskServer(t, WallConfig{}, 10)
	if s.cfg.Auth.WSConnectionsPerPrincipal != 10 {
		t.Fatalf("ws_connections_per_principal defaults to %d", s.cfg.Auth.WSConnectionsPerPrincipal)
	}
	limit := 10 // the default of dashboard.auth.ws_connections_per_principal
	h := http.Header{"Authorization": {"Bearer " + tok}, "Origin": {srv.URL}}
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?v=2&channels=wall"
	var open []*websocket.Conn
	for i := range limit {
		c, resp, err := websocket.DefaultDialer.Dial(url, h)
		if err != nil {
			t.Fatalf("connection %d of %d: %v (%v)", i+1, limit, err, resp)
		}
		t.Cleanup(func() { c.Close() })
		open = append(open, c)
	}
	_, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("connection %d: %v %v, want 429", limit+1, resp, err)
	}
	_, other, _ := s.Auth().CreateKiosk(t.Context(), "wall 2", auth.Principal{Name: "test", Role: auth.RoleAdmin}, "")
	if c, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + other}, "Origin": {srv.URL}}); err != nil {
		t.Fatalf("another kiosk: %v (%v)", err, resp)
	} else {
		c.Close()
	}
	open[0].Close()
	testpoll.Eventually(t, 10*time.Second, "a slot frees when a connection closes", func() (bool, string) {
		c, resp, err := websocket.DefaultDialer.Dial(url, h)
		if err != nil {
			return false, fmt.Sprint(resp, err)
		}
		c.Close()
		return true, ""
	})
}
