package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream"
)

// Readings written by the real stream role through the cluster
// configuration are visible in <db>.sensor_readings on EVERY server, each
// once; the copies of a redelivered reading all sit on one shard (the
// sharding key comes from the dedup key), and the documented query returns
// it once, whichever server answers.
func TestReadingsVisibleOnceOnEveryServer(t *testing.T) {
	tp := need(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := runID()
	ch := tp.chConfig("ioc_clrd_" + id)
	kc := tp.kafkaConfig("clrd" + id + ".")
	tp.dropOnCluster(t, ch)
	dropTopics(t, kc)

	st, err := stream.New(stream.Config{GroupID: "clrd-" + id, MaxAge: 200 * time.Millisecond}, kc, ch, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("stream did not stop within 30s")
		}
	})
	testpoll.Eventually(t, 90*time.Second, "stream ready on the cluster", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("stream exited: %v", err)
		default:
		}
		return st.Ready(), "not ready"
	})

	// 2,000 readings of 200 devices; every tenth one delivered three times
	// (as MQTT redelivery and a Kafka replay would), in separate batches.
	const n, devices = 2000, 200
	base := time.Now().Add(-time.Hour).UnixMilli()
	reading := func(i int) kafka.Message {
		dev := fmt.Sprintf("cl-%03d", i%devices)
		r := event.Reading{Partner: "clpart", DeviceID: dev, Metric: "seq", Kind: event.KindNumber, Value: float64(i),
			ObservedMs: base + int64(i), ReceivedMs: base + int64(i), TimeFromSource: true}
		r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
		v, err := event.MarshalReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Key: []byte(dev), Value: v}
	}
	w := kc.NewWriter(kafkaconn.WriterOptions{Topic: event.TopicReadings, Linger: 10 * time.Millisecond, MaxAttempts: 10})
	defer w.Close()
	var all []kafka.Message
	for i := 0; i < n; i++ {
		all = append(all, reading(i))
	}
	var again []kafka.Message
	for i := 0; i < n; i += 10 {
		again = append(again, reading(i))
	}
	for _, batch := range [][]kafka.Message{all, again, again} {
		if err := w.WriteMessages(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}

	servers := tp.servers(t, ch.Database)
	for i, sc := range servers {
		testpoll.Eventually(t, 90*time.Second, fmt.Sprintf("%d readings, each once, in sensor_readings on %s", n, tp.addrs[i]), func() (bool, string) {
			var rows, ids uint64
			err := sc.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+ch.Database+".sensor_readings").Scan(&rows, &ids)
			return err == nil && rows == n && ids == n, fmt.Sprintf("%d rows, %d ids (%v)", rows, ids, err)
		})
	}

	// The raw copies: on one shard per reading. Shard 1 is servers 0-1,
	// shard 2 servers 2-3; each shard's local table holds its own rows.
	dupID := func(i int) string {
		return event.ReadingID("clpart", fmt.Sprintf("cl-%03d", i%devices), "seq", base+int64(i))
	}
	for _, pair := range [][2]int{{0, 2}, {1, 3}} { // one replica of each shard, then the other
		var local [2]uint64
		for s, idx := range pair {
			if local[s], err = count(ctx, servers[idx], "SELECT count() FROM "+ch.Database+".sensor_readings_raw"); err != nil {
				t.Fatal(err)
			}
		}
		if local[0] == 0 || local[1] == 0 {
			t.Errorf("%s and %s hold %d and %d raw rows: each shard should get some of %d devices", tp.addrs[pair[0]], tp.addrs[pair[1]], local[0], local[1], devices)
		}
		t.Logf("raw rows on %s (shard 1) / %s (shard 2): %d / %d, redeliveries included until merges collapse them",
			tp.addrs[pair[0]], tp.addrs[pair[1]], local[0], local[1])
	}
	for i, sc := range servers {
		for _, k := range []int{0, 10, 990} {
			// Where does each redelivered reading live? All its copies on one shard.
			var s1, s2 uint64
			q := "SELECT count() FROM " + ch.Database + ".sensor_readings_raw WHERE event_id = ?"
			if s1, err = count(ctx, servers[0], q, dupID(k)); err != nil {
				t.Fatal(err)
			}
			if s2, err = count(ctx, servers[2], q, dupID(k)); err != nil {
				t.Fatal(err)
			}
			if (s1 == 0) == (s2 == 0) {
				t.Errorf("reading %d: %d raw copies on shard 1 and %d on shard 2; all copies of a reading belong on one shard", k, s1, s2)
			}
			// The documented query: one row, whichever server answers.
			c, err := count(ctx, sc, "SELECT count() FROM "+ch.Database+".sensor_readings WHERE event_id = ?", dupID(k))
			if err != nil || c != 1 {
				t.Errorf("reading %d on %s: sensor_readings returns %d rows (%v), want 1", k, tp.addrs[i], c, err)
			}
		}
	}
}
