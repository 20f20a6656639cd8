package dashboard

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// BenchmarkIdleWallClients holds 1,000 websocket connections that each got
// one frame, as wall clients between updates are, and reports the heap
// they keep per connection on the server side: with gorilla/websocket's
// per-connection write buffer ("own") and with the shared pool
// (newUpgrader).
func BenchmarkIdleWallClients(b *testing.B) {
	frame := []byte(`{"type":"readings","server_ms":1764000000000,"readings":[` + strings.Repeat(`{"id":"x","t":1},`, 40) + `{"id":"x","t":1}]}`)
	for _, tc := range []struct {
		name string
		up   func() websocket.Upgrader
	}{
		{"own", func() websocket.Upgrader {
			u := newUpgrader(nil)
			u.WriteBufferPool = nil
			return u
		}},
		{"pooled", func() websocket.Upgrader { return newUpgrader(nil) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.ReportMetric(idleHeapPerConn(b, tc.up(), frame, 1000), "B/conn")
			}
		})
	}
}

func idleHeapPerConn(b *testing.B, up websocket.Upgrader, frame []byte, n int) float64 {
	held := make(chan *websocket.Conn, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, frame)
		held <- c
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var clients []*websocket.Conn
	before := heapInUse()
	for i := 0; i < n; i++ {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
	}
	var servers []*websocket.Conn
	for i := 0; i < n; i++ {
		servers = append(servers, <-held)
	}
	// Client-side buffers are in the same heap: subtract what the same
	// number of client connections alone hold (4 KiB read + 4 KiB write
	// buffers each, the default dialer's).
	per := (float64(heapInUse()-before) - float64(n*8<<10)) / float64(n)
	for i := range clients {
		clients[i].Close()
		servers[i].Close()
	}
	return per
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
