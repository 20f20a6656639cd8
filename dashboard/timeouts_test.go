package dashboard

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// serverClosed reads from a connection until the server closes it (true)
// or within passes (false).
func serverClosed(t *testing.T, c net.Conn, within time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return true // EOF or reset: the server hung up
}

// The dashboard's HTTP server cuts a client that sends its request too
// slowly (header or body) and a kept-alive connection left idle, but a
// websocket lives on past every one of those timeouts.
func TestDashboardHTTPTimeouts(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", HTTPReadHeaderTimeout: time.Second, HTTPReadTimeout: time.Second,
		HTTPIdleTimeout: time.Second, Auth: auth.Config{Store: "memory", DevOpen: true}},
		kafkaconn.Config{}, chconn.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.httpServer()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); s.v2.closeAll("test over") })
	addr := ln.Addr().String()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	const patience = 20 * time.Second // far beyond the 1 s timeouts: only a server without them keeps the connection

	slowHeader := dial()
	_, _ = io.WriteString(slowHeader, "GET /api/latest HTTP/1.1\r\nHost: x\r\n")
	if !serverClosed(t, slowHeader, patience) {
		t.Error("a request header that never ends: the connection is still open")
	}

	slowBody := dial()
	_, _ = io.WriteString(slowBody, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: 1000\r\n\r\nusername=slow")
	if !serverClosed(t, slowBody, patience) {
		t.Error("a request body that never ends (slowloris): the connection is still open (no http_read_timeout)")
	}

	idle := dial()
	_, _ = io.WriteString(idle, "GET /api/latest HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/latest: %d", resp.StatusCode)
	}
	if !serverClosed(t, idle, patience) {
		t.Error("a kept-alive connection left idle: still open (no http_idle_timeout)")
	}

	// A websocket answers pings for three times the longest timeout.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws?v=2&channels=wall", http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	until := time.Now().Add(3 * time.Second)
	for id := 0; time.Now().Before(until); id++ {
		if err := ws.WriteJSON(map[string]any{"op": "ping", "id": id}); err != nil {
			t.Fatalf("websocket after %s: %v", time.Until(until), err)
		}
		for {
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			var m map[string]any
			if err := ws.ReadJSON(&m); err != nil {
				t.Fatalf("websocket closed past the HTTP timeouts: %v", err)
			}
			if m["type"] == "pong" && m["id"] == float64(id) {
				break
			}
		}
		time.Sleep(200 * time.Millisecond) // pace the pings: the test's point is time passing
	}
}
