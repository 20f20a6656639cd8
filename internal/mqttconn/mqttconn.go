// Package mqttconn opens paho's network connection with its reads
// buffered. paho reads each packet straight from the socket: one read for
// the packet type, one per byte of the remaining length, one for the body —
// three or more system calls a packet, which profiles of ingest and of the
// benchmark's publishers showed among their largest costs
// (docs/performance.md). Behind a bufio.Reader one call brings in many
// packets; nothing else changes.
package mqttconn

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// readBuffer holds many packets of a busy connection (a QoS 1 PUBLISH of
// a five-reading SenML pack is about 250 bytes).
const readBuffer = 64 << 10

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
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBuffer)}, nil
}

// bufferedConn reads through r; everything else is the connection's own.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
