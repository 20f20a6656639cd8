// Package mqttconn opens paho's network connection with its reads
// buffered. paho reads each packet straight from the socket: one read for
// the packet type, one per byte of the remaining length, one for the body —
// three or more system calls a packet, which profiles of ingest and of the
// benchmark's publishers showed among their largest costs
// (docs/performance.md). Behind a bufio.Reader one call brings in many
// packets.
//
// Writes go the same way in the other direction: paho writes every packet
// with its own system call (for ingest, one PUBACK of four bytes per
// message), from one goroutine. The connection copies each packet into a
// pending buffer and returns; one flusher goroutine writes whatever is
// pending with a single call, so the packets queued while the previous
// call was in the kernel leave together (group commit: no timer, no delay
// when idle). A write error closes the connection, is returned by the next
// Write, and paho reconnects as it would; Close writes what is pending
// first (a DISCONNECT). Nothing is acknowledged earlier than before: paho
// still decides when a PUBACK is written, only the system call is shared.
package mqttconn

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// readBuffer holds many packets of a busy connection (a QoS 1 PUBLISH of
// a five-reading SenML pack is about 250 bytes).
const readBuffer = 64 << 10

// maxPending bounds the bytes queued for the flusher: a Write beyond it
// waits until the socket took them (backpressure, as a blocking write).
const maxPending = 1 << 20

// closeFlushWait is how long Close waits for pending bytes to leave
// before it closes the socket anyway.
const closeFlushWait = time.Second

// Use makes o open tcp:// and ssl:// connections through Open. Other
// schemes (ws, wss, unix) and connections through a proxy (all_proxy) keep
// paho's own opener.
func Use(o *mqtt.ClientOptions, brokerURL string) *mqtt.ClientOptions {
	u, err := url.Parse(brokerURL)
	if err != nil || !handles(u.Scheme) || os.Getenv("all_proxy") != "" {
		return o
	}
	return o.SetCustomOpenConnectionFn(Open)
}

func handles(scheme string) bool {
	switch scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
		return true
	}
	return false
}

// Open dials the broker as paho would and buffers the reads. It is a
// paho OpenConnectionFunc.
func Open(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: 30 * time.Second}
	}
	var c net.Conn
	var err error
	switch uri.Scheme {
	case "ssl", "tls", "mqtts":
		c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	default:
		c, err = d.Dial("tcp", uri.Host)
	}
	if err != nil {
		return nil, err
	}
	return newBufferedConn(c), nil
}

// bufferedConn reads through r and writes through the flusher; everything
// else is the connection's own.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	drained *sync.Cond // pending shrank or an error/close happened
	pending []byte     // bytes accepted by Write, not yet given to the socket
	spare   []byte     // the other buffer of the pair, reused
	err     error      // the socket's write error: the connection is dead
	closed  bool
	wake    chan struct{} // pending became non-empty, or Close
	done    chan struct{} // the flusher has exited
}

func newBufferedConn(c net.Conn) *bufferedConn {
	bc := &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBuffer), wake: make(chan struct{}, 1), done: make(chan struct{})}
	bc.drained = sync.NewCond(&bc.mu)
	go bc.flush()
	return bc
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p for the flusher and returns; it fails once a write of the
// socket failed or the connection is closed.
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && !c.closed && len(c.pending) >= maxPending {
		c.drained.Wait()
	}
	switch {
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return 0, err
	case c.closed:
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	first := len(c.pending) == 0
	c.pending = append(c.pending, p...)
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// flush writes what is pending, one system call per turn, until the
// connection is closed or a write fails.
func (c *bufferedConn) flush() {
	defer close(c.done)
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && !c.closed {
			c.mu.Unlock()
			<-c.wake
			c.mu.Lock()
		}
		buf, closed := c.pending, c.closed
		c.pending, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		if len(buf) == 0 { // closed, nothing left
			return
		}
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		if cap(buf) <= 2*maxPending {
			c.spare = buf[:0]
		}
		if err != nil && c.err == nil {
			c.err = err
		}
		c.drained.Broadcast()
		c.mu.Unlock()
		if err != nil {
			_ = c.Conn.Close() // the reader sees it too: paho reconnects
			return
		}
		if closed {
			return
		}
	}
}

// Close writes what is pending (waiting at most closeFlushWait), then
// closes the socket.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.drained.Broadcast()
	c.mu.Unlock()
	if !already {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	t := time.NewTimer(closeFlushWait)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	return c.Conn.Close()
}
