package mqttconn

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// loopback returns a connection opened by Open and the server's side.
func loopback(t testing.TB) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = Open(&url.URL{Scheme: "tcp", Host: ln.Addr().String()}, *mqtt.NewClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func publishPacket(id uint16, body []byte) *packets.PublishPacket {
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.Qos, p.TopicName, p.MessageID, p.Payload = 1, "sensors/vnpt/aq-1", id, body
	return p
}

func TestPacketsReadIntactThroughTheBuffer(t *testing.T) {
	client, server := loopback(t)
	var wire bytes.Buffer
	for i := 1; i <= 500; i++ {
		body := bytes.Repeat([]byte{byte(i)}, i*37) // lengths of one to three bytes
		if err := publishPacket(uint16(i), body).Write(&wire); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _, _ = server.Write(wire.Bytes()) }()
	for i := 1; i <= 500; i++ {
		cp, err := packets.ReadPacket(client)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		p := cp.(*packets.PublishPacket)
		if p.MessageID != uint16(i) || len(p.Payload) != i*37 || p.Payload[0] != byte(i) {
			t.Fatalf("packet %d read as id %d with %d bytes", i, p.MessageID, len(p.Payload))
		}
	}
}

func TestUseOnlyForTCPAndTLS(t *testing.T) {
	for url, want := range map[string]bool{"tcp://h:1883": true, "ssl://h:8883": true, "ws://h:80/mqtt": false, "::bad": false} {
		o := Use(mqtt.NewClientOptions(), url)
		if got := o.CustomOpenConnectionFn != nil; got != want {
			t.Errorf("%s: custom opener %v, want %v", url, got, want)
		}
	}
}

// stallConn is a socket whose first Write blocks until release is closed;
// it counts the Write calls and keeps the bytes.
type stallConn struct {
	net.Conn
	release chan struct{}
	mu      sync.Mutex
	writes  int
	got     bytes.Buffer
	closed  bool
}

func (s *stallConn) Write(p []byte) (int, error) {
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, net.ErrClosed
	}
	s.writes++
	return s.got.Write(p)
}

func (s *stallConn) Read([]byte) (int, error) { select {} }

func (s *stallConn) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *stallConn) state() (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, bytes.Clone(s.got.Bytes())
}

// TestPubacksShareWrites: PUBACKs written while the socket is busy leave
// together, in order, in a few system calls instead of one each.
func TestPubacksShareWrites(t *testing.T) {
	inner := &stallConn{release: make(chan struct{})}
	c := newBufferedConn(inner)
	var want bytes.Buffer
	pa := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	for i := 1; i <= 1000; i++ {
		pa.MessageID = uint16(i)
		if err := pa.Write(io.MultiWriter(c, &want)); err != nil {
			t.Fatalf("PUBACK %d: %v", i, err)
		}
	}
	close(inner.release)
	testpoll.Eventually(t, 5*time.Second, "all PUBACKs on the socket", func() (bool, string) {
		n, got := inner.state()
		return len(got) == want.Len(), fmt.Sprintf("%d of %d bytes in %d writes", len(got), want.Len(), n)
	})
	n, got := inner.state()
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the bytes on the socket differ from the packets written (order or content)")
	}
	if n > 3 {
		t.Fatalf("1000 PUBACKs took %d socket writes; want them coalesced into at most 3", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteErrorReachesPaho: once the socket refuses a write, the
// connection is closed and the next Write fails, so paho sees the loss
// and reconnects; nothing is reported as written after that.
func TestWriteErrorReachesPaho(t *testing.T) {
	client, server := loopback(t)
	server.Close()
	testpoll.Eventually(t, 10*time.Second, "a write error", func() (bool, string) {
		_, err := client.Write(bytes.Repeat([]byte{0x40, 2, 0, 1}, 1024))
		return err != nil, "writes still accepted"
	})
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("read succeeded on a connection whose write failed")
	}
}

// TestCloseWritesPending: a packet written just before Close (paho's
// DISCONNECT) reaches the broker before the socket closes.
func TestCloseWritesPending(t *testing.T) {
	client, server := loopback(t)
	d := packets.NewControlPacket(packets.Disconnect)
	var want bytes.Buffer
	for i := 0; i < 100; i++ {
		if err := d.Write(io.MultiWriter(client, &want)); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("server read %d bytes before EOF, want %d", len(got), want.Len())
	}
	if _, err := client.Write([]byte{0xc0, 0}); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

// TestSubscriberStoreSkipsInboundQoS1: the inbound QoS 1 PUBLISHes paho
// would keep until their PUBACK (and never read back) are not kept;
// outbound packets and inbound QoS 2 ones are.
func TestSubscriberStoreSkipsInboundQoS1(t *testing.T) {
	s := SubscriberStore()
	s.Open()
	defer s.Close()
	in1 := publishPacket(7, []byte("x"))
	in2 := publishPacket(8, []byte("y"))
	in2.Qos = 2
	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.MessageID = 9
	s.Put("i.7", in1)
	s.Put("i.8", in2)
	s.Put("o.9", sub)
	if s.Get("i.7") != nil {
		t.Error("inbound QoS 1 PUBLISH kept in the store")
	}
	if s.Get("i.8") == nil || s.Get("o.9") == nil {
		t.Error("inbound QoS 2 PUBLISH or outbound SUBSCRIBE not kept")
	}
	s.Del("i.7") // paho deletes it when the PUBACK is written: harmless
	if got := len(s.All()); got != 2 {
		t.Errorf("store holds %d packets, want 2", got)
	}
}
