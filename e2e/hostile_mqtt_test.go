package e2e

// No payload can stall intake (issue 11, point 1): payloads of every size
// class and hostile shapes, published by a partner through a real
// Mosquitto running the shipped deploy/mosquitto configuration
// (message_size_limit 1 MiB) to a real ingest role, end as readings, as
// dead letters with their reason and a bounded raw prefix, or are refused
// by the broker; a normal reading published after them lands in
// ClickHouse; and the same holds after ingest restarts with the hostile
// messages queued in its session.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/internal/event"
)

// hostileCase is one payload and where it must end.
type hostileCase struct {
	name    string
	body    []byte
	reason  event.Reason // "" with readings > 0: stored; "" with readings 0: refused by the broker
	reading int          // readings stored
}

const brokerLimit = 1 << 20 // message_size_limit of deploy/mosquitto/mosquitto.conf

// padded is a valid one-reading SenML pack of exactly n bytes (whitespace
// after the opening bracket).
func padded(n int) []byte {
	body := `{"n":"pm25","u":"ug/m3","v":5}]`
	return []byte("[" + strings.Repeat(" ", n-1-len(body)) + body)
}

func records(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"n":"r%d","v":%d}`, i, i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func hostileCases(maxPayload int) []hostileCase {
	binary := make([]byte, 10_000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range binary {
		binary[i] = byte(r.UintN(256))
	}
	binary[0] = 0xff // never valid UTF-8
	cases := []hostileCase{
		{"payload limit - 1", padded(maxPayload - 1), "", 1},
		{"payload limit", padded(maxPayload), "", 1},
		{"payload limit + 1", padded(maxPayload + 1), event.ReasonOversize, 0},
		{"dead-letter prefix + 1", padded(event.DeadLetterRawMax + 1), "", 1},
		{"broker limit - 1", padded(brokerLimit - 1), event.ReasonOversize, 0},
		{"broker limit + 1", padded(brokerLimit + 1), "", 0},
		{"4 × broker limit", padded(4 * brokerLimit), "", 0},
		{"max records", records(1000), "", 1000},
		{"max records + 1", records(1001), event.ReasonOversize, 0},
		{"5000 records", records(5000), event.ReasonOversize, 0},
		{"deep nesting (array)", []byte(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)), event.ReasonNotJSON, 0},
		{"deep nesting (object)", []byte(`{"values":` + strings.Repeat(`{"a":`, 20_000) + "1" + strings.Repeat("}", 20_000) + "}"), event.ReasonNotJSON, 0},
		{"binary", binary, event.ReasonInvalidUTF8, 0},
	}
	for i := range 5 { // the report: five messages of about 700 KB
		cases = append(cases, hostileCase{fmt.Sprintf("700 KB #%d", i+1), padded(700_000 + i), event.ReasonOversize, 0})
	}
	return cases
}

func TestHostilePayloadsCannotStallIntake(t *testing.T) {
	b := startBroker(t)
	plainURL := fmt.Sprintf("tcp://127.0.0.1:%d", b.plain)
	tlsURL := fmt.Sprintf("ssl://127.0.0.1:%d", b.tls)
	cfg := ingest.Config{
		MQTT: ingest.MQTTConfig{URL: plainURL, ClientID: "ioc-ingest-hostile-" + pipe.run, Username: "ioc-ingest",
			Password: b.password(t, "ioc-ingest")},
		RegistryFile: pipe.registry,
	}
	var mu sync.Mutex
	var stop func()
	start := func() *ingest.Service {
		in, s := runIngest(t, cfg)
		mu.Lock()
		stop = s
		mu.Unlock()
		eventually(t, 30*time.Second, "ingest connected to the test broker", func() (bool, string) { return in.Ready(), "" })
		return in
	}
	t.Cleanup(func() { mu.Lock(); defer mu.Unlock(); stop() })
	var in *ingest.Service = start()
	partner, err := b.connect(t, tlsURL, "vnpt", b.password(t, "vnpt"))
	if err != nil {
		t.Fatalf("vnpt over TLS: %v", err)
	}
	cases := hostileCases(256 << 10)
	// check waits for the normal reading sent after the cases, then for
	// every case's outcome.
	check := func(phase string) {
		t.Helper()
		after := fmt.Sprintf("hb-%s-%s-after", pipe.run, phase)
		pub(t, partner, "sensors/vnpt/"+after, `[{"n":"pm25","u":"ug/m3","v":9}]`)
		eventually(t, 60*time.Second, phase+": the normal reading published after the hostile ones is stored", func() (bool, string) {
			n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ?", after)
			return n == 1, fmt.Sprintf("%d rows, ingest ready %v, oldest unacknowledged %s", n, in.Ready(), in.UnackedAge())
		})
		for i, c := range cases {
			device := fmt.Sprintf("hb-%s-%s-%d", pipe.run, phase, i)
			topic := "sensors/vnpt/" + device
			wantRaw := uint64(min(len(c.body), event.DeadLetterRawMax))
			eventually(t, 30*time.Second, fmt.Sprintf("%s: %s", phase, c.name), func() (bool, string) {
				readings := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ?", device)
				dls := count(t, "SELECT count() FROM {db}.dead_letters WHERE source_topic = ?", topic)
				good := count(t, "SELECT count() FROM {db}.dead_letters WHERE source_topic = ? AND reason = ? AND length(raw) = ?", topic, string(c.reason), wantRaw)
				state := fmt.Sprintf("%d readings, %d dead letters (%d with reason %q and %d raw bytes)", readings, dls, good, c.reason, wantRaw)
				if c.reason != "" {
					return readings == 0 && dls == 1 && good == 1, state
				}
				return readings == uint64(c.reading) && dls == 0, state
			})
		}
		if !in.Ready() || in.UnackedAge() > time.Second {
			t.Errorf("%s: ingest ready %v, oldest unacknowledged %s", phase, in.Ready(), in.UnackedAge())
		}
	}
	for i, c := range cases {
		pub(t, partner, fmt.Sprintf("sensors/vnpt/hb-%s-live-%d", pipe.run, i), string(c.body))
	}
	check("live")
	// Oversize dead letters say what was cut, and keep the start.
	n := count(t, "SELECT count() FROM {db}.dead_letters WHERE startsWith(source_topic, ?) AND reason = 'oversize' AND position(detail, 'bytes kept, sha256 ') > 0 AND startsWith(raw, '[ ')",
		"sensors/vnpt/hb-"+pipe.run+"-live-")
	if n != 7 { // limit + 1, broker limit - 1, five of 700 KB
		t.Errorf("%d oversize dead letters say how much was kept, want 7", n)
	}
	// The broker dropped what is over its limit (QoS flow completed), and
	// its debug log says so.
	for i, c := range cases {
		if c.reason == "" && c.reading == 0 {
			topic := fmt.Sprintf("sensors/vnpt/hb-%s-live-%d", pipe.run, i)
			if !strings.Contains(b.log(t), "Dropped too large PUBLISH from vnpt (d0, q1, r0, m") || !strings.Contains(b.log(t), "'"+topic+"'") {
				t.Errorf("%s: the broker's log does not record the dropped publish to %s", c.name, topic)
			}
		}
	}

	// Restart: the same messages wait in ingest's session while it is down.
	mu.Lock()
	stop()
	mu.Unlock()
	for i, c := range cases {
		pub(t, partner, fmt.Sprintf("sensors/vnpt/hb-%s-restart-%d", pipe.run, i), string(c.body))
	}
	in = start()
	check("restart")
}
