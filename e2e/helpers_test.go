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
	"github.com/sonla-ioc/ioc/internal/registry"
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

// socket is a client of the dashboard's websocket (protocol v2,
// docs/websocket.md): it subscribes to its channels once the server says
// hello, keeps every channel's state (key → value) and records, with when
// it arrived, every value the server set.
type socket struct {
	conn   *websocket.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	state  map[string]map[string]json.RawMessage
	sets   []arrival
	errors []string // the codes of "error" frames
	snap   map[string]bool
	err    error
}

// arrival is one value set on a channel, with when it arrived.
type arrival struct {
	at      time.Time
	ch, key string
	value   json.RawMessage
}

// v2Frame is what the tests read of the server's frames.
type v2Frame struct {
	Type string                     `json:"type"`
	Ch   string                     `json:"ch"`
	Code string                     `json:"code"`
	Last bool                       `json:"last"`
	Part int                        `json:"part"`
	Set  map[string]json.RawMessage `json:"set"`
	Del  []string                   `json:"del"`
}

// dialSocket opens /ws<query> with the headers h and subscribes to the
// channels given.
func dialSocket(t *testing.T, query string, h http.Header, channels ...string) *socket {
	t.Helper()
	u := strings.Replace(pipe.wallURL, "http://", "ws://", 1) + "/ws" + query
	conn, _, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		t.Fatalf("dialing %s: %v", u, err)
	}
	s := &socket{conn: conn, state: map[string]map[string]json.RawMessage{}, snap: map[string]bool{}}
	t.Cleanup(func() { conn.Close() })
	go s.read(channels)
	return s
}

func (s *socket) send(m string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.WriteMessage(websocket.TextMessage, []byte(m))
}

func (s *socket) read(channels []string) {
	for {
		_, b, err := s.conn.ReadMessage()
		now := time.Now()
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		var f v2Frame
		if err := json.Unmarshal(b, &f); err != nil {
			s.mu.Lock()
			s.err = fmt.Errorf("bad frame %q: %w", b, err)
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		switch f.Type {
		case "hello":
			for _, ch := range channels {
				go s.send(`{"op":"subscribe","ch":"` + ch + `"}`)
			}
		case "error":
			s.errors = append(s.errors, f.Code)
		case "snapshot", "delta":
			st := s.state[f.Ch]
			if st == nil || f.Type == "snapshot" && f.Part == 0 {
				st = map[string]json.RawMessage{}
				s.state[f.Ch] = st
			}
			for _, k := range f.Del {
				delete(st, k)
			}
			for k, v := range f.Set {
				st[k] = v
				s.sets = append(s.sets, arrival{now, f.Ch, k, v})
			}
			if f.Type == "snapshot" && f.Last {
				s.snap[f.Ch] = true
			}
		}
		s.mu.Unlock()
	}
}

// waitSnapshot waits for the whole snapshot of a channel.
func (s *socket) waitSnapshot(t *testing.T, ch string) {
	t.Helper()
	eventually(t, 10*time.Second, "snapshot of "+ch+" arrives", func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.snap[ch], fmt.Sprint(s.err)
	})
}

// value decodes the current value of a key into v; false if absent.
func (s *socket) value(ch, key string, v any) bool {
	s.mu.Lock()
	raw, ok := s.state[ch][key]
	s.mu.Unlock()
	return ok && json.Unmarshal(raw, v) == nil
}

// errorCodes returns the codes of the error frames received.
func (s *socket) errorCodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errors...)
}

// dialWall opens the wall channel as a kiosk does.
func dialWall(t *testing.T) *socket {
	t.Helper()
	w := dialSocket(t, "?channels=wall", http.Header{"Authorization": {"Bearer " + pipe.kiosk}}, "wall")
	w.waitSnapshot(t, "wall")
	return w
}

// wallDevice is what the wall channel shows of a registered device
// (d/<device>): the latest value of each metric.
type wallDevice struct {
	M map[string]struct {
		V *float64 `json:"v"`
		S string   `json:"s"`
		T int64    `json:"t"`
	} `json:"m"`
}

// wallUnregistered is what the wall channel shows of a device that
// reports without being registered (u/<device>).
type wallUnregistered struct {
	Partner string   `json:"p"`
	N       int64    `json:"n"`
	Metrics []string `json:"m"`
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
		kc.Topic(event.TopicReadings), kc.Topic(event.TopicDeadLetter), kc.Topic(registry.TopicDevices)}})
}

// clearSession removes the persistent MQTT session of a client id.
func clearSession(url, clientID string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}
