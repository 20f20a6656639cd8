package dashboard

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/rollup"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// rollupDB is a fresh database of the local ClickHouse with the schema,
// dropped at the end of the test.
func rollupDB(t *testing.T) (chconn.Config, driver.Conn) {
	t.Helper()
	return chtest.Migrated(t, "ioc_hist", schema.Migrate)
}

// /api/history?step=hour answers hourly trend points from the rollups
// (each reading once, redelivered ones too) and the open hour from the raw
// readings: with the raw rows gone, the closed hours are still there.
func TestHistoryHourlyReadsTheRollups(t *testing.T) {
	ch, conn := rollupDB(t)
	ctx := context.Background()
	now := time.Now()
	cur := now.Truncate(time.Hour)
	insert := func() {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms, ward, registered)")
		if err != nil {
			t.Fatal(err)
		}
		for h := 3; h >= 1; h-- {
			for i, dev := range []string{"water-namla-1", "water-namla-2"} {
				at := cur.Add(-time.Duration(h)*time.Hour + time.Duration(10+i)*time.Minute)
				v := float64(h) + float64(i)/2 // hour h-3: 3 and 3.5; …
				if err := b.Append(event.ReadingID("viettel", dev, "level", at.UnixMilli()), "viettel", dev, "level", int8(1), v, at, at.UnixMilli(), "Xã Chiềng Cọ", uint8(1)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	insert()
	insert() // redelivered
	if _, err := rollup.New(rollup.Config{}, ch, slog.New(slog.DiscardHandler), nil).Once(ctx, conn); err != nil {
		t.Fatal(err)
	}
	// A reading of the current hour: not rolled up yet.
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms)")
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Second)
	if at.Before(cur) {
		at = cur
	}
	if err := b.Append("open", "viettel", "water-namla-1", "level", int8(1), 9.0, at, at.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory", DevOpen: true}}, kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}},
		ch, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	get := func() (points []HistoryPoint, through int64) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/history?metric=water&hours=6&step=hour")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			StepMs          int64          `json:"step_ms"`
			RollupThroughMs int64          `json:"rollup_through_ms"`
			Points          []HistoryPoint `json:"points"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.StepMs != 3600_000 {
			t.Fatalf("GET /api/history?step=hour: %d %+v %v", resp.StatusCode, body, err)
		}
		return body.Points, body.RollupThroughMs
	}
	want := []HistoryPoint{
		{float64(cur.Add(-3 * time.Hour).UnixMilli()), 3.25, 3.5, 2},
		{float64(cur.Add(-2 * time.Hour).UnixMilli()), 2.25, 2.5, 2},
		{float64(cur.Add(-1 * time.Hour).UnixMilli()), 1.25, 1.5, 2},
		{float64(cur.UnixMilli()), 9, 9, 1},
	}
	same := func(got, want []HistoryPoint) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			for j := range got[i] {
				if math.Abs(got[i][j]-want[i][j]) > 1e-9 {
					return false
				}
			}
		}
		return true
	}
	got, through := get()
	if through != cur.UnixMilli() || !same(got, want) {
		t.Errorf("hourly history (through %d):\n got %v\nwant %v", through, got, want)
	}
	// The raw readings gone, the closed hours still answer: they are read from the rollups.
	rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = 'sensor_readings_raw' AND active", ch.Database)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	rows.Close()
	for _, p := range parts {
		if err := conn.Exec(ctx, "ALTER TABLE "+ch.Database+".sensor_readings_raw DROP PARTITION "+p); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := get(); !same(got, want[:3]) {
		t.Errorf("without raw rows:\n got %v\nwant %v", got, want[:3])
	}
}
