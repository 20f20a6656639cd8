package mqttconn

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// BenchmarkReadPacket reads QoS 1 PUBLISH packets of a five-reading SenML
// pack over loopback TCP with paho's packets.ReadPacket, as paho's
// incoming loop does: from the bare socket (paho's default) and through
// Open's buffer. A writer keeps the socket full.
func BenchmarkReadPacket(b *testing.B) {
	body := []byte(`[{"bt":1764000000.123,"n":"pm25","u":"ug/m3","v":42.5},{"n":"pm10","u":"ug/m3","v":61.2},` +
		`{"n":"co","u":"ug/m3","v":700.1},{"n":"no2","u":"ug/m3","v":20.4},{"n":"temperature","u":"Cel","v":24.5}]`)
	var one bytes.Buffer
	if err := publishPacket(7, body).Write(&one); err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat(one.Bytes(), 256)
	for _, tc := range []struct {
		name string
		conn func(c net.Conn) net.Conn
	}{
		{"socket", func(c net.Conn) net.Conn { return c.(*bufferedConn).Conn }},
		{"buffered", func(c net.Conn) net.Conn { return c }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client, server := loopback(b)
			go func() {
				for {
					if _, err := server.Write(chunk); err != nil {
						return
					}
				}
			}()
			r := tc.conn(client)
			b.SetBytes(int64(one.Len()))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := packets.ReadPacket(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWritePuback writes PUBACKs over loopback TCP with paho's
// packets.PubackPacket.Write from one goroutine, as paho's outgoing loop
// does when ingest acknowledges a batch: to the bare socket (one system
// call each, paho's default) and through Open's write-behind. A reader
// drains the server side.
func BenchmarkWritePuback(b *testing.B) {
	for _, tc := range []struct {
		name string
		conn func(c net.Conn) net.Conn
	}{
		{"socket", func(c net.Conn) net.Conn { return c.(*bufferedConn).Conn }},
		{"coalesced", func(c net.Conn) net.Conn { return c }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client, server := loopback(b)
			go func() { _, _ = io.Copy(io.Discard, server) }()
			w := tc.conn(client)
			pa := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
			b.SetBytes(4)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				pa.MessageID = uint16(i)
				if err := pa.Write(w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStoreInbound is what paho does with its store for each inbound
// QoS 1 PUBLISH of a subscriber with a persistent session: Put when it
// arrives, Del when its PUBACK is written (keys made as paho makes them),
// with 1,000 messages awaiting Kafka at any time: paho's MemoryStore
// against SubscriberStore.
func BenchmarkStoreInbound(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store func() mqtt.Store
	}{
		{"memory", func() mqtt.Store { return mqtt.NewMemoryStore() }},
		{"subscriber", SubscriberStore},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.store()
			s.Open()
			defer s.Close()
			p := publishPacket(1, make([]byte, 60))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p.MessageID = uint16(i%65535 + 1)
				s.Put(fmt.Sprintf("i.%d", p.MessageID), p)
				if i >= 1000 {
					s.Del(fmt.Sprintf("i.%d", uint16((i-1000)%65535+1)))
				}
			}
		})
	}
}

// BenchmarkWritePubackAlone is the worst case of the write-behind: each
// PUBACK is written alone (the next one only after the server read the
// previous), so nothing is coalesced and each costs the hand-off to the
// flusher on top of the system call.
func BenchmarkWritePubackAlone(b *testing.B) {
	for _, tc := range []struct {
		name string
		conn func(c net.Conn) net.Conn
	}{
		{"socket", func(c net.Conn) net.Conn { return c.(*bufferedConn).Conn }},
		{"coalesced", func(c net.Conn) net.Conn { return c }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client, server := loopback(b)
			got := make(chan struct{})
			go func() {
				buf := make([]byte, 4)
				for {
					if _, err := io.ReadFull(server, buf); err != nil {
						close(got)
						return
					}
					got <- struct{}{}
				}
			}()
			w := tc.conn(client)
			pa := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				pa.MessageID = uint16(i)
				if err := pa.Write(w); err != nil {
					b.Fatal(err)
				}
				<-got
			}
		})
	}
}
