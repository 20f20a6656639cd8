package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// live is an ingest role of a test on the local Mosquitto and Kafka, with
// its own topics, MQTT mount point and client id.
type live struct {
	svc   *Service
	kc    kafkaconn.Config
	reg   *prometheus.Registry
	mount string
	mqtt  string
	stop  func()
	errc  chan error
}

func needServices(t *testing.T) (mqttURL string, brokers []string) {
	t.Helper()
	mqttURL, b := os.Getenv("IOC_MQTT_URL"), os.Getenv("IOC_KAFKA_BROKERS")
	if mqttURL == "" || b == "" {
		t.Skip("IOC_MQTT_URL and IOC_KAFKA_BROKERS are not set: this test needs the local Mosquitto and Kafka (eval \"$(deploy/local/services.sh env)\")")
	}
	return mqttURL, strings.Split(b, ",")
}

func startLive(t *testing.T, set func(*Config)) *live {
	t.Helper()
	mqttURL, brokers := needServices(t)
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1e10)
	l := &live{kc: kafkaconn.Config{Brokers: brokers, Partitions: 2, TopicPrefix: "ingtest" + run + "."}, mount: "ingtest" + run + "/", mqtt: mqttURL,
		reg: prometheus.NewRegistry(), errc: make(chan error, 1)}
	l.kc.Defaults()
	cfg := Config{MQTT: MQTTConfig{URL: mqttURL, ClientID: "ingtest-" + run, MountPoint: l.mount}, RegistryFile: "../deploy/devices.csv"}
	if set != nil {
		set(&cfg)
	}
	svc, err := New(cfg, l.kc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), l.reg)
	if err != nil {
		t.Fatal(err)
	}
	l.svc = svc
	if err := l.kc.EnsureTopics(context.Background(), event.TopicReadings, event.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.errc <- svc.Run(ctx) }()
	l.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(func() {
		l.stop()
		_, _ = l.kc.DeleteTopicsWithPrefix(context.Background())
		clearTestSession(mqttURL, cfg.MQTT.ClientID)
	})
	return l
}

func (l *live) waitReady(t *testing.T) {
	t.Helper()
	testpoll.Eventually(t, 60*time.Second, "ingest ready", func() (bool, string) {
		select {
		case err := <-l.errc:
			t.Fatalf("ingest stopped: %v", err)
		default:
		}
		return l.svc.Ready(), fmt.Sprintf("unacked age %s", l.svc.UnackedAge())
	})
}

// clearTestSession removes a persistent session from the broker.
func clearTestSession(url, id string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}

func (l *live) publish(t *testing.T, device string, body []byte) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(l.mqtt).SetClientID(fmt.Sprintf("ingtest-pub-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetConnectTimeout(10 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting a publisher: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(l.mount+"sensors/vnpt/"+device, 1, false, body); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing: %v", tok.Error())
	}
}

// setTopicConfig changes one setting of one of the role's topics.
func (l *live) setTopicConfig(t *testing.T, topic, name, value string) {
	t.Helper()
	client, release := l.kc.NewClient(15 * time.Second)
	defer release()
	resp, err := client.IncrementalAlterConfigs(context.Background(), &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: l.kc.Topic(topic),
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: name, Value: value, ConfigOperation: kafka.ConfigOperationSet}}}}})
	if err == nil && len(resp.Resources) == 1 {
		err = resp.Resources[0].Error
	}
	if err != nil {
		t.Fatalf("setting %s=%s on %s: %v", name, value, topic, err)
	}
}

// records reads everything one of the role's topics holds (all
// partitions). A topic created a moment ago may have no leader yet (Not
// Leader For Partition): the error is returned for the caller's poll to
// try again.
func (l *live) records(topic string) ([]kafka.Message, error) {
	ids, err := l.kc.PartitionIDs(context.Background(), topic)
	if err != nil {
		return nil, err
	}
	var out []kafka.Message
	for _, p := range ids {
		conn, err := kafka.DialLeader(context.Background(), "tcp", l.kc.Brokers[0], l.kc.Topic(topic), p)
		if err != nil {
			return nil, err
		}
		msgs, err := readAll(conn)
		conn.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// readAll reads one partition from its first offset to its last.
func readAll(conn *kafka.Conn) ([]kafka.Message, error) {
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Seek(first, kafka.SeekAbsolute); err != nil {
		return nil, err
	}
	var out []kafka.Message
	for off := first; off < last; {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		batch := conn.ReadBatch(1, 8<<20)
		n := 0
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
			off, n = m.Offset+1, n+1
		}
		if err := batch.Close(); err != nil || n == 0 {
			break
		}
	}
	return out, nil
}

// has says whether the topic holds a record containing needle; a topic
// not readable yet (no leader) holds nothing yet.
func (l *live) has(t *testing.T, topic, needle string) bool {
	t.Helper()
	msgs, err := l.records(topic)
	if err != nil {
		t.Logf("reading %s: %v (polling again)", topic, err)
		return false
	}
	for _, m := range msgs {
		if strings.Contains(string(m.Value), needle) {
			return true
		}
	}
	return false
}

// A record Kafka refuses for good (larger than the topic takes) is not
// retried for ever: its message becomes a kafka_refused dead letter and is
// acknowledged, and readings published after it keep flowing. When even the
// dead letter is refused, the message is counted as dropped and
// acknowledged all the same. On the old code the first refusal stalled the
// producer for ever.
func TestKafkaRefusalIsPermanent(t *testing.T) {
	l := startLive(t, func(c *Config) { c.MaxUnackedAge = 20 * time.Second })
	l.waitReady(t)
	// The readings topic now takes records of at most 1500 bytes; the
	// running role read the old limit at start-up.
	l.setTopicConfig(t, event.TopicReadings, "max.message.bytes", "1500")
	big := fmt.Sprintf(`[{"n":"note","vs":%q}]`, strings.Repeat("x", 2000))
	l.publish(t, "refused-1", []byte(big))
	l.publish(t, "after-1", []byte(`[{"n":"pm25","u":"ug/m3","v":11}]`))
	testpoll.Eventually(t, 60*time.Second, "the refused message is dead-lettered as kafka_refused, the next reading is stored", func() (bool, string) {
		dl, ok := l.has(t, event.TopicDeadLetter, `"reason":"kafka_refused"`), l.has(t, event.TopicReadings, `"device_id":"after-1"`)
		return dl && ok, fmt.Sprintf("dead letter %v, next reading %v, unacked age %s", dl, ok, l.svc.UnackedAge())
	})
	if n := value(l.svc.m.dropped.WithLabelValues("dead_letter_refused")); n != 0 {
		t.Errorf("%v messages dropped, want 0", n)
	}
	// Now the dead letters' topic refuses too: counted, dropped, acked.
	l.setTopicConfig(t, event.TopicDeadLetter, "max.message.bytes", "200")
	l.publish(t, "refused-2", []byte(big))
	l.publish(t, "after-2", []byte(`[{"n":"pm25","u":"ug/m3","v":12}]`))
	testpoll.Eventually(t, 60*time.Second, "the message whose dead letter is refused is dropped and counted, the next reading is stored", func() (bool, string) {
		n := value(l.svc.m.dropped.WithLabelValues("dead_letter_refused"))
		ok := l.has(t, event.TopicReadings, `"device_id":"after-2"`)
		return n == 1 && ok, fmt.Sprintf("dropped %v, next reading %v", n, ok)
	})
	testpoll.Eventually(t, 30*time.Second, "everything acknowledged", func() (bool, string) {
		acked, received := value(l.svc.m.acked), value(l.svc.m.received)
		return acked == received && l.svc.UnackedAge() == 0 && l.svc.Ready(), fmt.Sprintf("acked %v of %v", acked, received)
	})
}

// While Kafka cannot take a record for a transient reason (here: its
// topic is gone, as while partitions are moved or recreated), the message
// is retried and not acknowledged; once the oldest unacknowledged
// message is older than ingest.max_unacked_age, readiness turns false and
// ioc_ingest_oldest_unacked_seconds shows the age. When Kafka takes it
// again, the reading is stored once and readiness comes back.
func TestStalledIntakeIsVisible(t *testing.T) {
	l := startLive(t, func(c *Config) { c.MaxUnackedAge = 2 * time.Second })
	l.waitReady(t)
	client, release := l.kc.NewClient(15 * time.Second)
	defer release()
	if _, err := client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{l.kc.Topic(event.TopicReadings)}}); err != nil {
		t.Fatal(err)
	}
	l.publish(t, "stalled-1", []byte(`[{"n":"pm25","u":"ug/m3","v":13}]`))
	testpoll.Eventually(t, 60*time.Second, "readiness false and the age metric above the bound", func() (bool, string) {
		age := value(l.svc.m.unackedAge)
		return !l.svc.Ready() && age > 2, fmt.Sprintf("ready %v, age metric %vs", l.svc.Ready(), age)
	})
	if n := value(l.svc.m.acked); n != 0 {
		t.Errorf("%v messages acknowledged while Kafka refused them", n)
	}
	if err := l.kc.EnsureTopics(context.Background(), event.TopicReadings); err != nil {
		t.Fatal(err)
	}
	testpoll.Eventually(t, 60*time.Second, "the reading is stored and readiness comes back", func() (bool, string) {
		ok := l.has(t, event.TopicReadings, `"device_id":"stalled-1"`)
		return ok && l.svc.Ready() && value(l.svc.m.acked) == 1, fmt.Sprintf("stored %v, ready %v, age %s", ok, l.svc.Ready(), l.svc.UnackedAge())
	})
}

// A topic that takes smaller record batches than ingest.kafka_batch_bytes
// stops the start, saying what to change.
func TestStartRefusesTopicSmallerThanBatch(t *testing.T) {
	_, brokers := needServices(t)
	kc := kafkaconn.Config{Brokers: brokers, Partitions: 1, TopicPrefix: fmt.Sprintf("ingtestsz%d.", time.Now().UnixNano()%1e10)}
	kc.Defaults()
	ctx := context.Background()
	if err := kc.EnsureTopics(ctx, event.TopicReadings, event.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kc.DeleteTopicsWithPrefix(ctx)
	})
	l := &live{kc: kc}
	l.setTopicConfig(t, event.TopicDeadLetter, "max.message.bytes", "500000")
	svc, err := New(Config{MQTT: MQTTConfig{URL: "tcp://127.0.0.1:1"}, RegistryFile: "../deploy/devices.csv"}, kc, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = svc.Run(rctx)
	if err == nil || !strings.Contains(err.Error(), "max.message.bytes") || !strings.Contains(err.Error(), "lower ingest.kafka_batch_bytes") {
		t.Errorf("start with a topic of 500000 bytes: %v, want a refusal saying what to change", err)
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
