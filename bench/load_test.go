package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// Each window counts the acknowledgements of its own messages: a broker
// that acknowledges late must not move them into the next window's count
// (nor make the next window look as if it lost readings).
func TestWindowAcksCountTheirOwnMessages(t *testing.T) {
	url := os.Getenv("IOC_MQTT_URL")
	if url == "" {
		t.Skip("IOC_MQTT_URL not set: this test publishes to the real local broker (make test, or eval \"$(deploy/local/services.sh env)\")")
	}
	ctx := context.Background()
	run := fmt.Sprintf("%d%03d", time.Now().Unix()%100000, rand.IntN(1000))
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
