package dashboard

import (
	"errors"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

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
