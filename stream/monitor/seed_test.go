package monitor

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// TestSeedReadsClickHouse renders every query of sql/ and the shared alert
// query and runs them on a fresh database of the local ClickHouse: an open
// alert, one resolved and one administrative alert older than the window
// come back as the engine's open alerts.
func TestSeedReadsClickHouse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, conn := chtest.Migrated(t, "ioc_monseed", schema.Migrate)
	now := time.Now()
	old := now.Add(-400 * 24 * time.Hour)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Table("alert_events_raw")+
		" (event_id, alert_id, rule, kind, severity, state, seq, level, subject, opened_at, opened_ms, at, at_ms)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id, rule, kind, state string
		opened                time.Time
	}{
		{"a-open", "water_level", "threshold", "open", now},
		{"a-resolved", "rain_intensity", "threshold", "resolved", now},
		{"a-task", "task_overdue", "task_overdue", "open", old},
		{"a-old", "device_offline", "device_offline", "open", old},
	} {
		if err := b.Append(r.id+"-e", r.id, r.rule, r.kind, "warning", r.state, uint32(1), uint8(1), "s:"+r.id,
			r.opened, r.opened.UnixMilli(), r.opened, r.opened.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	m := seededMonitor(ctx, t, ch, conn, now)
	var got []string
	for _, a := range m.engine.Open() {
		got = append(got, a.AlertID)
	}
	if s := strings.Join(slices.Sorted(slices.Values(got)), " "); s != "a-open a-task" {
		t.Errorf("open alerts after seeding: %q, want %q", s, "a-open a-task")
	}
}

// TestSeedKeepsOldStatus: a device offline for over a year, silent since,
// keeps its status across a restart: the seed restores it, and the tracker
// announces nothing for it. This is why status.sql reads every status
// change with no time bound (docs/clickhouse.md, "The monitor's status
// seed"): bounded to the seed window like last_seen.sql, it would forget
// the device, and every restart would announce it offline again (and a
// device online for longer than the bound, online again).
func TestSeedKeepsOldStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch := chtest.Scratch(t, "ioc_monstatus")
	conn, err := ch.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := schema.Migrate(ctx, conn, ch, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-400 * 24 * time.Hour)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Table("device_status_events_raw")+
		" (event_id, kind, device_id, partner, status, previous, cause, at, at_ms)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("s-1", "device", "water-1", "viettel", "offline", "online", "silent", old, old.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	m := seededMonitor(ctx, t, ch, conn, now)
	for _, c := range m.tracker.Tick(now.Add(24 * time.Hour).UnixMilli()) {
		if c.DeviceID == "water-1" {
			t.Errorf("after a restart the device offline since %s is announced again: %s (%s)", old.Format(time.DateOnly), c.Status, c.Cause)
		}
	}
}

// TestSeedReadsLatestStatusTable: the status seed reads one row per device
// from device_status_latest (131), not every change ever stored: after the
// month of a device's last change is dropped from device_status_events_raw
// (retention, a TTL), and after a newer change of another device, a
// restart still restores both, the newest change winning.
func TestSeedReadsLatestStatusTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, conn := chtest.Migrated(t, "ioc_monlatest", schema.Migrate)
	now := time.Now()
	old := now.Add(-400 * 24 * time.Hour)
	insert := func(id, device, status, previous string, at time.Time) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+ch.Table("device_status_events_raw")+
			" (event_id, kind, device_id, partner, status, previous, cause, at, at_ms)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(id, "device", device, "viettel", status, previous, "silent", at, at.UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	insert("s-1", "water-1", "offline", "online", old)
	insert("s-2", "water-1", "offline", "online", old) // redelivered
	insert("s-3", "water-2", "offline", "online", old)
	insert("s-4", "water-2", "online", "offline", now.Add(-time.Hour))
	if err := conn.Exec(ctx, "ALTER TABLE "+ch.Table("device_status_events_raw")+" DROP PARTITION "+old.In(time.FixedZone("ICT", 7*3600)).Format("200601")); err != nil {
		t.Fatal(err)
	}
	m := seededMonitor(ctx, t, ch, conn, now)
	for _, c := range m.tracker.Tick(now.Add(24 * time.Hour).UnixMilli()) {
		if c.DeviceID == "water-1" {
			t.Errorf("after its old status changes were dropped, the device offline since %s is announced again: %s (%s)", old.Format(time.DateOnly), c.Status, c.Cause)
		}
	}
	var status string
	if err := conn.QueryRow(ctx, "SELECT status FROM "+ch.Database+".device_status WHERE device_id = 'water-2'").Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "online" {
		t.Errorf("device_status of water-2: %q, want its newest change, online", status)
	}
}

// seededMonitor is a monitor at now with the default alert rules (the
// administrative ones among them), its state seeded from ClickHouse as at
// a restart.
func seededMonitor(ctx context.Context, t *testing.T, ch chconn.Config, conn driver.Conn, now time.Time) *Monitor {
	t.Helper()
	alerts := AlertsConfig{}
	alerts.Defaults()
	if err := alerts.Validate(); err != nil {
		t.Fatal(err)
	}
	m := New(testStatusConfig(), alerts, kafkaconn.Config{}, ch, testReg(t), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	m.tracker = NewTracker(m.status, m.reg, now.UnixMilli())
	m.aqi = NewAQI(m.status)
	m.engine = NewEngine(m.alerts, m.tracker.Device)
	if err := m.seed(ctx, conn); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return m
}
