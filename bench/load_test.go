package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// brokerRun is the real local broker's URL (the test is skipped without
// it) and a run id for the test's client ids and topics.
func brokerRun(t *testing.T) (url, run string) {
	t.Helper()
	url = os.Getenv("IOC_MQTT_URL")
	if url == "" {
		t.Skip("IOC_MQTT_URL not set: this test publishes to the real local broker (make test, or eval \"$(deploy/local/services.sh env)\")")
	}
	return url, fmt.Sprintf("%d%03d", time.Now().Unix()%100000, rand.IntN(1000))
}

// Each window counts the acknowledgements of its own messages: a broker
// that acknowledges late must not move them into the next window's count
// (nor make the next window look as if it lost readings).
func TestWindowAcksCountTheirOwnMessages(t *testing.T) {
	url, run := brokerRun(t)
	ctx := context.Background()
	// Nobody subscribes under this prefix: the broker acknowledges and drops.
	l, err := NewLoad(ctx, url, "iocbench-test-"+run, "benchtest/"+run+"/", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var a, b WindowAcks
	sa := l.Run(ctx, Schedule{Rate: 600, Duration: 500 * time.Millisecond, Devices: 10, Acks: &a})
	sb := l.Run(ctx, Schedule{Rate: 300, Duration: 500 * time.Millisecond, Devices: 10, Acks: &b})
	if !a.Wait(ctx, 20*time.Second) || !b.Wait(ctx, 20*time.Second) {
		t.Fatalf("publishes still unacknowledged: %d, %d", a.Outstanding.Load(), b.Outstanding.Load())
	}
	if sa.Sent == 0 || sb.Sent == 0 || a.Readings.Load() != sa.Readings || b.Readings.Load() != sb.Readings {
		t.Errorf("window a: sent %d readings, %d acknowledged; window b: sent %d, %d acknowledged",
			sa.Readings, a.Readings.Load(), sb.Readings, b.Readings.Load())
	}
	if l.AckedReadings.Load() != sa.Readings+sb.Readings || l.Failed.Load() != 0 {
		t.Errorf("the load counted %d readings acknowledged (%d failed), the windows %d", l.AckedReadings.Load(), l.Failed.Load(), sa.Readings+sb.Readings)
	}
}

// With fewer registered devices than connections (the bench's default:
// 100 connections, the registry's 65 devices), connections share devices.
// No two messages may then carry the same reading (device, metric and
// observation time make its id): the pipeline stores such a pair once,
// and the window counted the other as an acknowledged reading lost.
func TestSharedDevicesNeverRepeatAReading(t *testing.T) {
	url, run := brokerRun(t)
	ctx := context.Background()
	prefix := "benchtest/" + run + "/"
	var mu sync.Mutex
	seen := map[string]int{}
	got := 0
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("iocbench-test-sub-" + run).SetCleanSession(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting the subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(prefix+"#", 1, func(_ mqtt.Client, m mqtt.Message) {
		var pack []struct {
			BT float64 `json:"bt"`
		}
		if err := json.Unmarshal(m.Payload(), &pack); err != nil || len(pack) == 0 {
			t.Errorf("payload %q: %v", m.Payload(), err)
			return
		}
		device := m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:]
		key := fmt.Sprintf("%s@%d", device, int64(pack[0].BT*1000+0.5))
		mu.Lock()
		seen[key]++
		got++
		mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribing: %v", tok.Error())
	}
	l, err := NewLoad(ctx, url, "iocbench-test-"+run, prefix, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var acks WindowAcks
	fleet := [][2]string{{"vnpt", "aq-1"}, {"vnpt", "aq-2"}, {"viettel", "rain-1"}}
	st := l.Run(ctx, Schedule{Rate: 8000, Duration: 500 * time.Millisecond, Devices: len(fleet), Fleet: fleet, Acks: &acks})
	if !acks.Wait(ctx, 20*time.Second) {
		t.Fatalf("publishes still unacknowledged: %d", acks.Outstanding.Load())
	}
	testpoll.Eventually(t, 20*time.Second, "every message at the subscriber", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return int64(got) >= st.Sent, fmt.Sprintf("%d of %d", got, st.Sent)
	})
	mu.Lock()
	defer mu.Unlock()
	var repeated []string
	for k, n := range seen {
		if n > 1 {
			repeated = append(repeated, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	if len(repeated) > 0 {
		t.Errorf("%d of %d messages repeat a device and millisecond of another (the same reading ids), e.g. %v", len(repeated), st.Sent, repeated[:min(5, len(repeated))])
	}
}
