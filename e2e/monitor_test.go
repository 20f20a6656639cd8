package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream"
)

// testPartner is a partner whose only device is e2e-feed-1: when it stops,
// the whole feed is silent.
const testPartner = "e2eq"

// The monitor tests' devices, added to deploy/devices.csv for this run.
// They report every second, so the e2e thresholds make them late after 2 s
// and offline after 4 s.
const testDevices = `e2e-offline-1,vnpt,air_quality,Phường Tô Hiệu,E2E trạm tắt,21.3280,103.9150,1
e2e-feed-1,` + testPartner + `,rainfall,Xã Hua La,E2E đối tác im lặng,21.2920,103.9010,1
e2e-aq-1,viettel,air_quality,Phường Chiềng Sinh,E2E trạm không khí,21.3040,103.9330,60
e2e-water-1,viettel,water_level,Xã Chiềng Cọ,E2E suối Nậm La,21.3450,103.8930,60
`

func testRegistry() (string, error) {
	base, err := os.ReadFile("../deploy/devices.csv")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "ioc-e2e-devices-*.csv")
	if err != nil {
		return "", err
	}
	defer f.Close()
	body := strings.TrimRight(string(base), "\n") + "\n" + testDevices
	_, err = f.WriteString(body)
	return f.Name(), err
}

// publisher keeps one MQTT connection for tests that publish often.
type publisher struct{ c mqtt.Client }

func newPublisher(t *testing.T) *publisher {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(pipe.mqttURL).SetClientID(fmt.Sprintf("e2e-mon-%s-%d", pipe.run, time.Now().UnixNano())).
		SetCleanSession(true).SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting publisher: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &publisher{c: c}
}

func (p *publisher) send(t *testing.T, partner, device, body string) {
	t.Helper()
	tok := p.c.Publish(pipe.mount+"sensors/"+partner+"/"+device, 1, false, body)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing for %s: %v", device, tok.Error())
	}
}

// keepFeedLive publishes for an unregistered device of a partner every
// 500 ms until the test ends, so that the partner's feed stays live while
// one of its registered devices goes quiet.
func keepFeedLive(t *testing.T, partner string) {
	p := newPublisher(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			p.c.Publish(pipe.mount+"sensors/"+partner+"/e2e-keepalive-"+pipe.run, 1, false, `[{"n":"beat","v":1}]`).WaitTimeout(5 * time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
}

// statuses lists the status changes of a subject stored in ClickHouse
// that took effect at or after since, as "status/cause" in time order.
func statuses(t *testing.T, since time.Time, kind, partner, device string) string {
	t.Helper()
	rows, err := pipe.conn.Query(context.Background(), "SELECT status, cause FROM "+pipe.ch.Database+
		".device_status_events WHERE kind = ? AND partner = ? AND device_id = ? AND at_ms >= ? ORDER BY at_ms",
		kind, partner, device, since.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s, c string
		if err := rows.Scan(&s, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, s+"/"+c)
	}
	return strings.Join(out, " ")
}

// alertStates lists the transitions of the alerts of a rule and subject
// that opened at or after since, as "state" in order.
func alertStates(t *testing.T, since time.Time, rule, subject string) string {
	t.Helper()
	rows, err := pipe.conn.Query(context.Background(), "SELECT state FROM "+pipe.ch.Database+
		".alert_events WHERE rule = ? AND subject = ? AND opened_ms >= ? ORDER BY opened_ms, seq", rule, subject, since.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// The registry is in ClickHouse, and loading the same file again adds
// nothing.
func TestRegistryLoadedIntoClickHouse(t *testing.T) {
	body, err := os.ReadFile(pipe.registry)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(strings.Count(strings.TrimSpace(string(body)), "\n")) // lines minus the header
	// The file seeds the live registry (devices added from the admin
	// API by other tests come on top).
	eventually(t, 30*time.Second, "registry in {db}.devices", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.devices WHERE device_id IN (SELECT device_id FROM {db}.device_registry WHERE source = 'csv')")
		return n == want, fmt.Sprintf("%d devices, want %d", n, want)
	})
	if n := count(t, "SELECT count() FROM {db}.devices WHERE device_id = 'water-namla-1' AND ward = 'Xã Chiềng Cọ' AND interval_s = 60 AND device_type = 'water_level' AND partner = 'viettel'"); n != 1 {
		t.Errorf("water-namla-1 not in the registry table as declared (%d rows)", n)
	}
	before := count(t, "SELECT count() FROM {db}.devices_raw")
	conn, err := pipe.ch.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := stream.LoadRegistry(context.Background(), conn, pipe.ch, pipe.registry, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if after := count(t, "SELECT count() FROM {db}.devices_raw"); after != before {
		t.Errorf("loading the same registry again: %d rows, was %d", after, before)
	}
}

// A device that stops reporting goes late, then offline, each change is
// stored and published on Kafka, an offline alert opens; its next reading
// brings it back and resolves the alert.
func TestDeviceGoesOfflineAndComesBack(t *testing.T) {
	keepFeedLive(t, "vnpt")
	p := newPublisher(t)
	// What happened before (the device may have been declared offline at
	// start, never having reported) is history: the test checks what
	// follows its reading.
	since := time.Now()
	p.send(t, "vnpt", "e2e-offline-1", `[{"n":"pm25","u":"ug/m3","v":12}]`)
	eventually(t, 30*time.Second, "online, stale and offline stored", func() (bool, string) {
		s := statuses(t, since, event.SubjectDevice, "vnpt", "e2e-offline-1")
		return s == "online/reading stale/late offline/silent", s
	})
	eventually(t, 20*time.Second, "device_offline alert open", func() (bool, string) {
		s := alertStates(t, since, "device_offline", "e2e-offline-1")
		return s == "open", s
	})
	msgs := readTopic(t, event.TopicDeviceStatus, func(m kafka.Message) bool {
		return string(m.Key) == "e2e-offline-1" && strings.Contains(string(m.Value), `"status":"offline"`)
	}, 20*time.Second)
	if len(msgs) != 1 {
		t.Errorf("the offline change is not on %s", event.TopicDeviceStatus)
	}
	p.send(t, "vnpt", "e2e-offline-1", `[{"n":"pm25","u":"ug/m3","v":13}]`)
	eventually(t, 20*time.Second, "back online, alert resolved", func() (bool, string) {
		s := statuses(t, since, event.SubjectDevice, "vnpt", "e2e-offline-1")
		a := alertStates(t, since, "device_offline", "e2e-offline-1")
		return s == "online/reading stale/late offline/silent online/reading" && a == "open resolved", s + " | " + a
	})
}

// When a partner's only device stops, the feed is silent: the device goes
// offline with cause feed_silent, and the alert is the feed's, not the
// device's.
func TestSilentFeedToldApartFromOfflineDevice(t *testing.T) {
	p := newPublisher(t)
	since := time.Now()
	p.send(t, testPartner, "e2e-feed-1", `[{"n":"rain","u":"mm/h","v":0.5}]`)
	// The feed may have been silent since start (its device had never
	// reported): the reading makes it live, then it falls silent again.
	feedRE := regexp.MustCompile(`^(live/reading )?silent/silent$`)
	eventually(t, 30*time.Second, "feed silent, device offline with it", func() (bool, string) {
		f := statuses(t, since, event.SubjectFeed, testPartner, "")
		d := statuses(t, since, event.SubjectDevice, testPartner, "e2e-feed-1")
		return feedRE.MatchString(f) && d == "online/reading stale/late offline/feed_silent", "feed: " + f + " | device: " + d
	})
	eventually(t, 20*time.Second, "feed_silent alert open", func() (bool, string) {
		s := alertStates(t, since, "feed_silent", "feed:"+testPartner)
		return s == "open", s
	})
	if s := alertStates(t, since, "device_offline", "e2e-feed-1"); s != "" {
		t.Errorf("a device of a silent feed has its own alert: %s", s)
	}
	back := time.Now()
	p.send(t, testPartner, "e2e-feed-1", `[{"n":"rain","u":"mm/h","v":0.7}]`)
	eventually(t, 20*time.Second, "feed live again, alert resolved", func() (bool, string) {
		f, a := statuses(t, back, event.SubjectFeed, testPartner, ""), alertStates(t, since, "feed_silent", "feed:"+testPartner)
		return strings.HasPrefix(f, "live/reading") && strings.HasPrefix(a, "open resolved"), f + " | " + a
	})
}

// Readings of devices not in the registry are stored, flagged, and listed.
func TestUnregisteredDevicesListed(t *testing.T) {
	ghost := "ghost-" + pipe.run
	publish(t, pipe.mount+"sensors/vnpt/"+ghost, []byte(`[{"n":"pm25","u":"ug/m3","v":9}]`))
	publish(t, pipe.mount+"sensors/viettel/water-namla-2", []byte(`[{"n":"level","u":"m","v":0.9}]`))
	eventually(t, 20*time.Second, "ghost listed in {db}.unregistered_devices", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.unregistered_devices WHERE device_id = ? AND partner = 'vnpt' AND has(metrics, 'pm25')", ghost)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	eventually(t, 20*time.Second, "registered reading stored", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = 'water-namla-2'")
		return n >= 1, fmt.Sprintf("%d rows", n)
	})
	if n := count(t, "SELECT count() FROM {db}.unregistered_devices WHERE device_id = 'water-namla-2'"); n != 0 {
		t.Error("a registered device is listed as unregistered")
	}
}

// PM2.5 readings of a station become derived VN_AQI values (hourly NowCast,
// Decision 1459/QĐ-TCMT) stored with the readings; an hour and a half at
// 120 µg/m³ is VN_AQI 179, Xấu, which opens the unhealthy-air alert once it
// lasted 10 minutes.
func TestVNAQIDerivedAndAlerted(t *testing.T) {
	p := newPublisher(t)
	start := time.Now().Add(-90 * time.Minute).Truncate(time.Minute)
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i <= 90; i += 2 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"n":"pm25","u":"ug/m3","v":120,"t":%d}`, start.Add(time.Duration(i)*time.Minute).Unix())
	}
	b.WriteString("]")
	p.send(t, "viettel", "e2e-aq-1", b.String())
	eventually(t, 30*time.Second, "VN_AQI 179 stored", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = 'e2e-aq-1' AND metric = 'vn_aqi' AND value = 179 AND unit = 'VN_AQI' AND value_string = 'pm25'")
		return n > 10, fmt.Sprintf("%d values", n)
	})
	eventually(t, 20*time.Second, "aqi_unhealthy alert open", func() (bool, string) {
		s := alertStates(t, start, "aqi_unhealthy", "e2e-aq-1")
		return strings.HasPrefix(s, "open"), s
	})
}
