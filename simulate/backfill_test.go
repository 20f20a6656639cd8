package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// The backfill (issue 13): before reporting live, the simulator publishes
// the last hours of every registered device, one reading per device and
// step, each with its own observation time, a device's readings in time
// order. Checked on a Mosquitto of the test's own (its readings reach
// nobody else's ingest).
func TestBackfillPublishesThePastInOrder(t *testing.T) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Skip("mosquitto not installed (deploy/local/services.sh up installs it)")
	}
	port := 0
	for range 200 {
		p := 20000 + rand.IntN(12000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			port = p
			break
		}
	}
	services, _ := filepath.Abs(filepath.Join("..", "deploy", "local", "services.sh"))
	env := append(os.Environ(), "IOC_LOCAL_DIR="+t.TempDir(), fmt.Sprintf("IOC_MQTT_PORT=%d", port))
	sh := func(args ...string) {
		cmd := exec.Command("bash", append([]string{services}, args...)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("services.sh %v: %v\n%s", args, err, out)
		}
	}
	sh("up", "mosquitto")
	t.Cleanup(func() { sh("down", "mosquitto") })
	url := fmt.Sprintf("tcp://127.0.0.1:%d", port)

	type seen struct {
		bt  float64
		got time.Time
	}
	var mu sync.Mutex
	byDevice := map[string][]seen{}
	total := 0
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("backfill-test").SetCleanSession(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting to %s: %v", url, tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("sensors/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		var recs []struct {
			BT float64 `json:"bt"`
		}
		if json.Unmarshal(m.Payload(), &recs) != nil || len(recs) == 0 {
			return
		}
		mu.Lock()
		byDevice[m.Topic()] = append(byDevice[m.Topic()], seen{recs[0].BT, time.Now()})
		total++
		mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribing: %v", tok.Error())
	}

	const backfill, step = 30 * time.Minute, 2 * time.Minute
	cfg := Config{MQTTURL: url, Interval: 10 * time.Minute, Backfill: backfill, BackfillStep: step,
		RegistryFile: filepath.Join("..", "deploy", "devices.csv")}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("simulate.Run: %v", err)
			}
		})
	}
	defer stop()

	// 65 devices × 15 or 16 steps of the past.
	const want = 65 * 15
	testpoll.Eventually(t, 60*time.Second, "the backfill", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return total > want, fmt.Sprintf("%d messages from %d devices", total, len(byDevice))
	})
	stop()

	mu.Lock()
	defer mu.Unlock()
	if len(byDevice) != 65 {
		t.Errorf("%d devices reported, want the registry's 65", len(byDevice))
	}
	oldest := start.Add(-backfill - step)
	for topic, xs := range byDevice {
		var past, all []float64
		for _, x := range xs {
			all = append(all, x.bt)
			at := time.UnixMilli(int64(x.bt * 1000))
			if at.Before(oldest) || at.After(time.Now()) {
				t.Errorf("%s: observation time %s outside the last %s", topic, at.Format(time.RFC3339), backfill)
			}
			if at.Before(start) {
				past = append(past, x.bt)
			}
		}
		if len(past) < 14 || len(past) > 16 {
			t.Errorf("%s: %d readings of the past, want one per %s over %s", topic, len(past), step, backfill)
		}
		if !sort.Float64sAreSorted(all) {
			t.Errorf("%s: readings not received in time order (the past first, then live): %v", topic, all)
		}
		for i := 1; i < len(past); i++ {
			if d := time.Duration((past[i] - past[i-1]) * float64(time.Second)); d < step-time.Second || d > step+time.Second {
				t.Errorf("%s: %s between two readings of the past, want %s", topic, d, step)
				break
			}
		}
	}
}
