package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/event"
)

// Every class of the bad-input catalogue (ingest/payload/badinputs.go),
// published over MQTT to the real pipeline, lands where the table says:
// accepted ones in {db}.sensor_readings (with time_from_source as listed),
// the others in {db}.dead_letters with their reason and the raw bytes (the
// first 64 KiB of a larger payload); and
// the pipeline still takes a good reading afterwards (no panic, no stall).
func TestBadInputLandsWhereTheTableSays(t *testing.T) {
	classes := payload.BadInputs(time.Now())
	devices := make([]string, len(classes))
	for i, c := range classes {
		devices[i] = fmt.Sprintf("bi-%s-%d", pipe.run, i)
		body := strings.ReplaceAll(c.Payload, "urn:dev:mac:dev:", "urn:dev:mac:"+devices[i]+":")
		publish(t, pipe.mount+"sensors/vnpt/"+devices[i], []byte(body))
	}
	for i, c := range classes {
		topic := pipe.mount + "sensors/vnpt/" + devices[i]
		if c.Reason == "" {
			eventually(t, 30*time.Second, c.Class+": accepted", func() (bool, string) {
				n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ? AND time_from_source = ?", devices[i], boolByte(!c.NoTime))
				return n > 0, fmt.Sprintf("%d rows", n)
			})
			if n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source_topic = ?", topic); n != 0 {
				t.Errorf("%s: accepted and also %d dead letters", c.Class, n)
			}
			continue
		}
		eventually(t, 30*time.Second, c.Class+": dead letter "+string(c.Reason), func() (bool, string) {
			n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source_topic = ? AND reason = ? AND length(raw) = ?", topic, string(c.Reason), uint64(min(len(c.Payload), event.DeadLetterRawMax)))
			return n == 1, fmt.Sprintf("%d rows", n)
		})
		if n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ?", devices[i]); n != 0 {
			t.Errorf("%s: dead-lettered and also %d readings", c.Class, n)
		}
	}
	// Hostile topics: wildcards cannot be published, $SYS is not
	// subscribed; an injection in the device id is a bad_topic.
	bad := pipe.mount + "sensors/vnpt/x'<script>" + pipe.run
	publish(t, bad, []byte(`[{"n":"x","v":1}]`))
	eventually(t, 30*time.Second, "injection in the topic dead-lettered", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source_topic = ? AND reason = 'bad_topic'", bad)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	after := "bi-after-" + pipe.run
	publish(t, pipe.mount+"sensors/vnpt/"+after, []byte(`[{"n":"pm25","u":"ug/m3","v":7}]`))
	eventually(t, 30*time.Second, "the pipeline still takes good readings", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ?", after)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
}

// Days and months are the city's: a reading at 23:30 Son La time is in
// that day (and, on the last day of a month, that month) in toDate and
// toYYYYMM of observed_at, and one at 00:30 is in the next, though UTC
// still says the day before. A reading dated 2201 is dead-lettered, never
// wrapped by DateTime.
func TestCityCalendarInClickHouse(t *testing.T) {
	now := time.Now().In(event.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, event.Location)
	firstOfMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, event.Location)
	cases := []time.Time{today.Add(-30 * time.Minute), today.Add(30 * time.Minute), firstOfMonth.Add(-30 * time.Minute), firstOfMonth.Add(30 * time.Minute)}
	device := "cal-" + pipe.run
	var checked []time.Time
	for i, at := range cases {
		if at.After(now.Add(-time.Minute)) || now.Sub(at) > 29*24*time.Hour {
			continue // outside the accepted window today
		}
		checked = append(checked, at)
		publish(t, pipe.mount+"sensors/vnpt/"+device, []byte(fmt.Sprintf(`{"time":%d,"values":{"cal%d":1}}`, at.UnixMilli(), i)))
	}
	for i, at := range cases {
		if !containsTime(checked, at) {
			continue
		}
		metric := fmt.Sprintf("cal%d", i)
		eventually(t, 30*time.Second, metric+" stored", func() (bool, string) {
			n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ? AND metric = ?", device, metric)
			return n == 1, fmt.Sprintf("%d rows", n)
		})
		wantDay, wantMonth := at.Format("2006-01-02"), uint64(at.Year()*100+int(at.Month()))
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ? AND metric = ? AND toString(toDate(observed_at)) = ? AND toYYYYMM(observed_at) = ?",
			device, metric, wantDay, uint32(wantMonth))
		if n != 1 {
			t.Errorf("%s (%s Son La): not in day %s and month %d in ClickHouse", metric, at.Format(time.RFC3339), wantDay, wantMonth)
		}
	}
	topic := pipe.mount + "sensors/vnpt/" + device + "-2201"
	publish(t, topic, []byte(`{"time":"2201-01-01T00:00:00+07:00","values":{"x":1}}`))
	eventually(t, 30*time.Second, "2201 dead-lettered", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source_topic = ? AND reason = 'bad_time'", topic)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	if n := count(t, "SELECT count() FROM {db}.sensor_readings_raw WHERE device_id = ?", device+"-2201"); n != 0 {
		t.Errorf("a 2201 reading reached ClickHouse (%d rows)", n)
	}
}

func containsTime(ts []time.Time, t time.Time) bool {
	for _, x := range ts {
		if x.Equal(t) {
			return true
		}
	}
	return false
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
