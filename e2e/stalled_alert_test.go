package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream"
	"github.com/sonla-ioc/ioc/stream/monitor"
)

// When readings stop arriving from every partner at once, the monitor
// raises one critical "pipeline stalled" alert (rule pipeline_stalled)
// into the alert topic and ClickHouse, where the wall reads it, besides
// each feed's own; it resolves as soon as one partner's readings arrive
// again. A stream role of its own (own registry of two partners, topics
// and database) so that the shared pipeline's feeds do not interfere.
func TestPipelineStalledAlertReachesTheWall(t *testing.T) {
	run := pipe.run + "s"
	kc := kafkaconn.Config{Brokers: pipe.kafka.Brokers, TopicPrefix: "e2e" + run + "."}
	kc.Defaults()
	ch := chconn.Config{Addr: pipe.ch.Addr, Database: "ioc_e2e_" + run}
	ch.Defaults()
	reg, err := os.CreateTemp("", "ioc-e2e-stall-*.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = reg.WriteString("device_id,partner,type,ward,name,lat,lon,interval_s\n" +
		"e2e-stall-a,vnpt,rainfall,Xã Hua La,E2E nghẽn A,21.2920,103.9010,1\n" +
		"e2e-stall-b,viettel,rainfall,Xã Hua La,E2E nghẽn B,21.2921,103.9011,1\n")
	reg.Close()
	st, err := stream.New(stream.Config{GroupID: "e2e-stall-" + run, MaxAge: 200 * time.Millisecond, RegistryFile: reg.Name(),
		Status: monitor.StatusConfig{StaleAfter: 2, OfflineAfter: 4, MinOffline: time.Millisecond, FeedSilentAfter: 2 * time.Second,
			Tick: 100 * time.Millisecond}}, kc, ch, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		cctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		_ = pipe.conn.Exec(cctx, "DROP DATABASE IF EXISTS "+ch.Database)
		_ = pipe.conn.Exec(cctx, "DROP DATABASE IF EXISTS "+ch.SecurityDatabase())
		_, _ = kc.DeleteTopicsWithPrefix(cctx) // every topic of the prefix, also those the roles created
		_ = os.Remove(reg.Name())
	})
	eventually(t, 90*time.Second, "the stall test's stream ready", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("stream stopped: %v", err)
		default:
		}
		return st.Ready(), ""
	})

	// Both partners report every 300 ms while `live` holds their names.
	w := kc.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond, MaxAttempts: 10})
	defer w.Close()
	var mu sync.Mutex
	live := map[string]string{"e2e-stall-a": "vnpt", "e2e-stall-b": "viettel"}
	pctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pctx.Err() == nil {
			mu.Lock()
			var msgs []kafka.Message
			for dev, partner := range live {
				now := time.Now().UnixMilli()
				r := event.Reading{Partner: partner, DeviceID: dev, Metric: "rain", Kind: event.KindNumber, Value: 1, Unit: "mm",
					ObservedMs: now, ReceivedMs: now, TimeFromSource: true, Registered: true}
				r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
				b, _ := event.MarshalReading(&r)
				msgs = append(msgs, kafka.Message{Topic: kc.Topic(event.TopicReadings), Key: []byte(dev), Value: b})
			}
			mu.Unlock()
			if len(msgs) > 0 {
				_ = w.WriteMessages(pctx, msgs...)
			}
			select {
			case <-pctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	states := func() string {
		var out string
		rows, err := pipe.conn.Query(context.Background(), "SELECT state FROM "+ch.Database+
			".alert_events WHERE rule = 'pipeline_stalled' AND subject = 'pipeline' ORDER BY at_ms, seq")
		if err != nil {
			return err.Error()
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			out += s + " "
		}
		return out
	}
	eventually(t, 60*time.Second, "both feeds live", func() (bool, string) {
		var n uint64
		err := pipe.conn.QueryRow(context.Background(), "SELECT uniqExact(partner) FROM "+ch.Database+
			".device_status_events WHERE kind = 'feed' AND status = 'live'").Scan(&n)
		return err == nil && n == 2, fmt.Sprintf("%d live feeds (%v)", n, err)
	})
	if s := states(); s != "" {
		t.Fatalf("a pipeline_stalled alert while both feeds report: %s", s)
	}
	mu.Lock()
	live = map[string]string{}
	mu.Unlock()
	eventually(t, 60*time.Second, "pipeline_stalled alert open once every feed is silent", func() (bool, string) {
		s := states()
		return s == "open ", s
	})
	var msg, sev string
	if err := pipe.conn.QueryRow(context.Background(), "SELECT message, severity FROM "+ch.Database+
		".alert_events WHERE rule = 'pipeline_stalled' AND state = 'open'").Scan(&msg, &sev); err != nil || sev != event.SeverityCritical {
		t.Errorf("alert: %q %q %v", msg, sev, err)
	}
	mu.Lock()
	live = map[string]string{"e2e-stall-a": "vnpt"}
	mu.Unlock()
	eventually(t, 60*time.Second, "pipeline_stalled resolved once one partner reports again", func() (bool, string) {
		s := states()
		return s == "open resolved ", s
	})
}
