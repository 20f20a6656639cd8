package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// publish sends one message at QoS 1 and waits for the broker's PUBACK.
func publish(t *testing.T, topic string, payload []byte) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(pipe.mqttURL).SetClientID(fmt.Sprintf("e2e-pub-%s-%d", pipe.run, time.Now().UnixNano())).
		SetCleanSession(true).SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting publisher to %s: %v", pipe.mqttURL, tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing to %s: %v", topic, tok.Error())
	}
}

// eventually polls cond until it holds or the timeout passes (the shared
// helper, under the name this package's tests call it by).
var eventually = testpoll.Eventually

// count runs a counting query on ClickHouse.
func count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	q := strings.ReplaceAll(query, "{db}", pipe.ch.Database)
	if err := pipe.conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	return n
}

// wall is a websocket client of the dashboard that records every reading
// it receives.
type wall struct {
	conn *websocket.Conn
	mu   sync.Mutex
	seen []event.Reading
	snap bool
	err  error
}

func dialWall(t *testing.T) *wall {
	t.Helper()
	url := strings.Replace(pipe.wallURL, "http://", "ws://", 1) + "/ws"
	conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + pipe.kiosk}})
	if err != nil {
		t.Fatalf("dialing the wall websocket %s: %v", url, err)
	}
	w := &wall{conn: conn}
	go w.read()
	t.Cleanup(func() { conn.Close() })
	eventually(t, 10*time.Second, "snapshot frame arrives first", func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.snap, fmt.Sprint(w.err)
	})
	return w
}

func (w *wall) read() {
	for {
		_, b, err := w.conn.ReadMessage()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		var f struct {
			Type     string          `json:"type"`
			Readings []event.Reading `json:"readings"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			w.mu.Lock()
			w.err = fmt.Errorf("bad frame %q: %w", b, err)
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		if f.Type == "snapshot" {
			w.snap = true
		}
		w.seen = append(w.seen, f.Readings...)
		w.mu.Unlock()
	}
}

// find returns the readings received for a device.
func (w *wall) find(device string) []event.Reading {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []event.Reading
	for _, r := range w.seen {
		if r.DeviceID == device {
			out = append(out, r)
		}
	}
	return out
}

// readTopic returns the records of a topic that match, reading from the
// start of every partition until timeout.
func readTopic(t *testing.T, topic string, match func(kafka.Message) bool, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	parts, err := pipe.kafka.PartitionIDs(ctx, topic)
	if err != nil {
		t.Fatalf("listing partitions of %s: %v", topic, err)
	}
	var mu sync.Mutex
	var out []kafka.Message
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: pipe.kafka.Brokers, Topic: pipe.kafka.Topic(topic), Partition: p,
				MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				if match(m) {
					mu.Lock()
					out = append(out, m)
					mu.Unlock()
					cancel() // found: stop every partition reader
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// dropTopics deletes the topics of this run.
func dropTopics(ctx context.Context, kc kafkaconn.Config) {
	client := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Timeout: 10 * time.Second}
	_, _ = client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{
		kc.Topic(event.TopicReadings), kc.Topic(event.TopicDeadLetter)}})
}

// clearSession removes the persistent MQTT session of a client id.
func clearSession(url, clientID string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}
