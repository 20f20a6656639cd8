package mqttconn

import (
	"bytes"
	"net"
	"net/url"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
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
