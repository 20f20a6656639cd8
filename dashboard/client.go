package dashboard

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sonla-ioc/ioc/internal/auth"
)

// client is one websocket connection with a bounded send queue.
type client struct {
	conn      *websocket.Conn
	queue     chan []byte
	done      chan struct{}
	readDone  chan struct{} // closed when readLoop returns
	closeOnce sync.Once
	reason    string
	code      int // close code; 0 picks 1001 at shutdown, 1008 otherwise
	// who is the principal the access policy let in, from remote (revalidate.go).
	who    auth.Principal
	remote string
	// maxMessage and limit bound what the client may send (dashboard.auth.ws_*).
	maxMessage int64
	limit      *auth.MessageLimiter
}

func newClient(conn *websocket.Conn, queue int) *client {
	return &client{conn: conn, queue: make(chan []byte, queue), done: make(chan struct{}), readDone: make(chan struct{})}
}

// send queues a frame without blocking; false means the queue is full.
func (c *client) send(frame []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.queue <- frame:
		return true
	default:
		return false
	}
}

func (c *client) close(reason string) { c.closeWith(0, reason) }

// closeWith ends the client with a close code (0: the default for reason).
func (c *client) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
	})
}

// writeLoop sends queued frames and pings; it owns all writes.
func (c *client) writeLoop(writeTimeout, pingEvery time.Duration) {
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	defer c.conn.Close()
	for {
		select {
		case frame := <-c.queue:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				c.close("write failed: " + err.Error())
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.close("ping failed: " + err.Error())
				return
			}
		case <-c.done:
			code := c.code
			if code == 0 {
				code = websocket.ClosePolicyViolation
				if c.reason == "server shutting down" {
					code = websocket.CloseGoingAway
				}
			}
			msg := websocket.FormatCloseMessage(code, truncate(c.reason, 120))
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			awaitPeerClose(c.readDone)
			return
		}
	}
}

// readLoop consumes control frames and client messages (the wall sends
// none yet); it ends the client when the connection goes.
func (c *client) readLoop(pongWait time.Duration) {
	c.conn.SetReadLimit(max(c.maxMessage, 256))
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	defer close(c.readDone)
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			c.close("connection closed")
			if errors.Is(err, websocket.ErrReadLimit) {
				discardUntilClosed(c.conn)
			}
			return
		}
		if c.limit != nil && !c.limit.Allow() {
			c.close("too many messages from the client")
			discardUntilClosed(c.conn)
			return
		}
	}
}

// lingerClose bounds how long a closing server waits for the client's
// answer to its close frame.
const lingerClose = 2 * time.Second

// discardUntilClosed reads and drops what the client still sends after the
// server decided to close, until the client answers the close frame (or
// lingerClose passes). Closing the socket with unread bytes in its receive
// buffer makes the kernel send a reset, and the client would never read
// the close frame that says why (it sees 1006 instead).
//
// After an error that ends frame reading for good (a message over the read
// limit), the rest is drained from the socket itself.
func discardUntilClosed(conn *websocket.Conn) {
	deadline := time.Now().Add(lingerClose)
	_ = conn.SetReadDeadline(deadline)
	for {
		_, _, err := conn.NextReader()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return // the client answered the close frame
		}
		break
	}
	raw := conn.UnderlyingConn()
	_ = raw.SetReadDeadline(deadline)
	_, _ = io.Copy(io.Discard, raw)
}

// awaitPeerClose waits, after the close frame was written, until the read
// side has ended (the client answered, or discardUntilClosed gave up).
func awaitPeerClose(readDone <-chan struct{}) {
	t := time.NewTimer(lingerClose)
	defer t.Stop()
	select {
	case <-readDone:
	case <-t.C:
	}
}
