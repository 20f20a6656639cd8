package wstest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A connection the server closes reports its code and reason; one it
// keeps stays open.
func TestWatchRecordsTheClose(t *testing.T) {
	up := websocket.Upgrader{}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if r.URL.Query().Get("close") != "" {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4403, "kiosk_revoked"), time.Now().Add(time.Second))
			return
		}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	dial := func(q string) *Conn {
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return Watch(conn)
	}
	closed, open := dial("/?close=1"), dial("/")
	closed.ClosedWith(t, 0, 4403, "kiosk_revoked")
	open.Open(t)
	if closed.code != 4403 || closed.why != "kiosk_revoked" {
		t.Errorf("recorded %d %q, want 4403 kiosk_revoked", closed.code, closed.why)
	}
}
