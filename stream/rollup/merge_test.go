package rollup

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// A merge that replaces the parts written since the last run after the
// job listed them and before it read them: the read misses their rows,
// the job sees that a part it read is gone and asks again, and the late
// reading is rolled up.
func TestLateReadingFoundWhenItsPartMergesDuringTheRun(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_rollup_merge", schema.Migrate)
	ctx := context.Background()
	var now uint32
	if err := conn.QueryRow(ctx, "SELECT toUInt32(now())").Scan(&now); err != nil {
		t.Fatal(err)
	}
	hour := int64(now) - int64(now)%3600
	h1, h0 := hour-3*3600, hour-4*3600
	insert := func(dev string, at int64, v float64) {
		t.Helper()
		if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms) "+
			"SELECT '%s', 'vnpt', '%s', 'pm25', CAST('number' AS Enum8('number' = 1, 'string' = 2, 'bool' = 3)), %g, toDateTime(%d), %d",
			ch.Table("sensor_readings_raw"), dev, dev, v, at, at*1000)); err != nil {
			t.Fatal(err)
		}
	}
	insert("aq-a", h1+60, 1)
	j := New(Config{}, ch, slog.New(slog.DiscardHandler), nil)
	if res, err := j.Once(ctx, conn); err != nil || res.Closed != 3 {
		t.Fatalf("first run: %+v %v", res, err)
	}
	insert("aq-late", h0+60, 8)
	insert("aq-late2", h0+120, 9) // two parts, so that the merge replaces both
	merged := 0
	j.beforePartsRead = func(ctx context.Context) {
		if merged == 0 {
			if err := conn.Exec(ctx, "OPTIMIZE TABLE "+ch.Table("sensor_readings_raw")+" FINAL"); err != nil {
				t.Error(err)
			}
		}
		merged++
	}
	res, err := j.Once(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if merged < 2 || res.Late < 1 {
		t.Errorf("second run: %+v after %d reads by part, want the late hour found on the second read", res, merged)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT sum(readings) FROM "+ch.Database+".sensor_hourly WHERE hour = toDateTime(?)", h0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("hour h0 rolled up with %d readings, want the 2 late ones", n)
	}
}
