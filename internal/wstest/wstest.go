// Package wstest watches the websockets of tests: a client that reads
// everything and remembers how the server closed the connection.
package wstest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Margin is added to every bound a test waits for a close: room for a
// loaded machine.
const Margin = 10 * time.Second

// Conn is a websocket the server may close; its messages are read and
// dropped.
type Conn struct {
	done chan struct{}
	code int
	why  string
}

// Watch reads conn until it ends, remembering the close code and reason.
func Watch(conn *websocket.Conn) *Conn {
	c := &Conn{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
					c.code, c.why = ce.Code, ce.Text
				}
				return
			}
		}
	}()
	return c
}

// ClosedWith waits until the server closed the connection, within bound
// plus Margin, and checks the close code and that the reason names reason.
func (c *Conn) ClosedWith(t testing.TB, bound time.Duration, code int, reason string) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(bound + Margin):
		t.Fatalf("the websocket is still open %s after its credential ended (bound %s; want close %d %s)", bound+Margin, bound, code, reason)
	}
	if c.code != code || !strings.Contains(c.why, reason) {
		t.Errorf("closed with %d %q, want %d and a reason naming %s", c.code, c.why, code, reason)
	}
}

// Open checks that the connection is still open.
func (c *Conn) Open(t testing.TB) {
	t.Helper()
	select {
	case <-c.done:
		t.Errorf("closed with %d %q, but its credential holds", c.code, c.why)
	default:
	}
}
