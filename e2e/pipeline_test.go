package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
)

// A SenML reading published over MQTT lands in ioc.sensor_readings with its
// value, unit and device, and reaches a websocket client of the wall.
func TestSenMLReadingReachesClickHouseAndWall(t *testing.T) {
	w := dialWall(t)
	device := "aq-9001-" + pipe.run
	publish(t, pipe.mount+"sensors/vnpt/"+device, []byte(`[{"n":"pm25","u":"ug/m3","v":42.5}]`))

	eventually(t, 20*time.Second, "reading in {db}.sensor_readings", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ? AND metric = 'pm25' AND value = 42.5 AND unit = 'ug/m3' AND partner = 'vnpt'", device)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	// The wall lists a device that is not registered, with its partner and
	// metrics (u/<device>); values are shown for registered devices only
	// (TestVietnameseTextSurvivesEveryHop).
	eventually(t, 10*time.Second, "unregistered device on the wall websocket", func() (bool, string) {
		var u wallUnregistered
		ok := w.value("wall", "u/"+device, &u)
		return ok && u.Partner == "vnpt" && slices.Contains(u.Metrics, "pm25") && u.N >= 1, fmt.Sprintf("%+v", u)
	})
}

// A registered device gets its ward from the registry, and the observation
// time given by the publisher is kept to the millisecond, in the city's
// calendar.
func TestRegisteredDeviceCarriesWardAndTime(t *testing.T) {
	at := time.Date(2026, 11, 24, 23, 30, 15, 123e6, event.Location) // late evening in Son La
	if time.Since(at) > 24*time.Hour || time.Until(at) > 0 {
		at = time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	}
	metric := "e2e_temp_" + pipe.run
	body := fmt.Sprintf(`[{"bn":"","bt":%.3f,"bu":"Cel"},{"n":%q,"v":21.5}]`, float64(at.UnixMilli())/1000, metric)
	publish(t, pipe.mount+"sensors/viettel/aq-chieng-le", []byte(body))
	eventually(t, 20*time.Second, "registered reading stored", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = 'aq-chieng-le' AND metric = ? AND registered = 1 AND ward = 'Phường Chiềng Lề' AND unit = 'Cel'", metric)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	var ms int64
	var local string
	if err := pipe.conn.QueryRow(context.Background(),
		"SELECT observed_ms, toString(observed_at) FROM "+pipe.ch.Database+".sensor_readings WHERE metric = ?", metric).Scan(&ms, &local); err != nil {
		t.Fatal(err)
	}
	if ms != at.UnixMilli() {
		t.Errorf("observed_ms = %d, want %d", ms, at.UnixMilli())
	}
	if want := at.In(event.Location).Format("2006-01-02 15:04:05"); local != want {
		t.Errorf("observed_at in Asia/Ho_Chi_Minh = %q, want %q", local, want)
	}
}

// Malformed payloads go to the dead-letter topic and table with the raw
// bytes and a reason, and the pipeline keeps running.
func TestMalformedPayloadsAreDeadLettered(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		reason  event.Reason
	}{
		{"not json", []byte(`{"values": {"pm25": 42.5}`), event.ReasonNotJSON},
		{"missing value", []byte(`[{"n":"pm25","u":"ug/m3"}]`), event.ReasonMissingValue},
		{"NaN", []byte(`[{"n":"pm25","v":NaN}]`), event.ReasonBadValue},
		{"invalid utf-8", []byte("[{\"n\":\"status\",\"vs\":\"M\xe1\xbb\"}]"), event.ReasonInvalidUTF8},
		{"time far in the future", []byte(`[{"n":"pm25","v":1,"t":4102444800}]`), event.ReasonBadTime},
		{"oversize", append(append([]byte(`[{"n":"note","vs":"`), bytes.Repeat([]byte("a"), 300<<10)...), []byte(`"}]`)...), event.ReasonOversize},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topic := fmt.Sprintf("%ssensors/vnpt/bad-%s-%d", pipe.mount, pipe.run, i)
			publish(t, topic, tc.payload)
			// A dead letter keeps at most a DeadLetterRawMax prefix of the
			// raw bytes; the length and SHA-256 of the whole are in its detail.
			kept := tc.payload[:min(len(tc.payload), event.DeadLetterRawMax)]
			sum := sha256.Sum256(tc.payload)
			eventually(t, 20*time.Second, "dead letter in {db}.dead_letters", func() (bool, string) {
				n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source = 'mqtt' AND source_topic = ? AND reason = ? AND length(raw) = ? AND hex(MD5(raw)) = ?",
					topic, string(tc.reason), uint64(len(kept)), fmt.Sprintf("%X", md5.Sum(kept)))
				return n == 1, fmt.Sprintf("%d rows", n)
			})
			msgs := readTopic(t, event.TopicDeadLetter, func(m kafka.Message) bool { return string(m.Key) == topic }, 20*time.Second)
			if len(msgs) != 1 {
				t.Fatalf("dead-letter topic: %d records for %s, want 1", len(msgs), topic)
			}
			var dl event.DeadLetter
			if err := event.UnmarshalDeadLetter(msgs[0].Value, &dl); err != nil {
				t.Fatal(err)
			}
			if dl.Reason != tc.reason || !bytes.Equal(dl.Raw, kept) || dl.Detail == "" || dl.ReceivedMs == 0 ||
				dl.RawLen != len(tc.payload) || dl.RawSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("dead letter = reason %s detail %q raw %d bytes rt %d; want reason %s and the raw bytes",
					dl.Reason, dl.Detail, len(dl.Raw), dl.ReceivedMs, tc.reason)
			}
		})
	}
	// The pipeline still takes good readings after all that.
	device := "after-bad-" + pipe.run
	publish(t, pipe.mount+"sensors/viettel/"+device, []byte(`{"values":{"rain":3.5},"units":{"rain":"mm/h"}}`))
	eventually(t, 20*time.Second, "good reading after bad ones", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ? AND value = 3.5", device)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
}

// Vietnamese text survives MQTT, Kafka, ClickHouse and the websocket
// byte for byte (a registered device: the wall shows its values).
func TestVietnameseTextSurvivesEveryHop(t *testing.T) {
	w := dialWall(t)
	device, metric := "aq-chieng-le", "status_vi_"+pipe.run
	text := "Cảnh báo: mực nước suối Nậm La vượt báo động 2 — phường Chiềng Lề, xã Hua La"
	publish(t, pipe.mount+"sensors/viettel/"+device, []byte(fmt.Sprintf(`[{"n":%q,"vs":%q}]`, metric, text)))
	eventually(t, 20*time.Second, "Vietnamese string in ClickHouse", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ? AND metric = ? AND value_string = ?", device, metric, text)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	msgs := readTopic(t, event.TopicReadings, func(m kafka.Message) bool {
		return string(m.Key) == device && bytes.Contains(m.Value, []byte(metric))
	}, 20*time.Second)
	if len(msgs) != 1 || !bytes.Contains(msgs[0].Value, []byte(text)) {
		t.Errorf("kafka record for %s does not carry the text unchanged: %d records", device, len(msgs))
	}
	eventually(t, 10*time.Second, "Vietnamese string on the websocket", func() (bool, string) {
		var d wallDevice
		var meta map[string]any
		ok := w.value("wall", "d/"+device, &d)
		w.value("wall", "meta", &meta)
		return ok && d.M[metric].S == text, fmt.Sprintf("d/%s present %v, %d metrics, %s: %+v; meta %v", device, ok, len(d.M), metric, d.M[metric], meta)
	})
}

// The same reading published twice (a redelivery) is stored twice in the
// raw table but counted once in the analyst view.
func TestDuplicateReadingCountedOnce(t *testing.T) {
	device := "dup-" + pipe.run
	// A background merge would collapse the two rows in the raw table too,
	// and then the view could pass without deduplicating anything.
	if err := pipe.conn.Exec(context.Background(), "SYSTEM STOP MERGES "+pipe.ch.Database+".sensor_readings_raw"); err != nil {
		t.Fatalf("stopping merges: %v", err)
	}
	t.Cleanup(func() {
		_ = pipe.conn.Exec(context.Background(), "SYSTEM START MERGES "+pipe.ch.Database+".sensor_readings_raw")
	})
	at := float64(time.Now().Add(-30*time.Second).UnixMilli()) / 1000
	body := []byte(fmt.Sprintf(`[{"bt":%.3f,"n":"level","u":"m","v":1.75}]`, at))
	publish(t, pipe.mount+"sensors/viettel/"+device, body)
	publish(t, pipe.mount+"sensors/viettel/"+device, body)
	eventually(t, 20*time.Second, "both deliveries in the raw table", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings_raw WHERE device_id = ?", device)
		return n == 2, fmt.Sprintf("%d raw rows", n)
	})
	if n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ?", device); n != 1 {
		t.Errorf("analyst view shows %d rows for a reading delivered twice, want 1", n)
	}
	if n := count(t, "SELECT uniqExact(event_id) FROM {db}.sensor_readings_raw WHERE device_id = ?", device); n != 1 {
		t.Errorf("the two deliveries got %d different event ids, want 1", n)
	}
}
