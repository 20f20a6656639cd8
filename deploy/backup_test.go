package deploy_test

// Backup and restore of ClickHouse (deploy/clickhouse/backup.sh and
// restore.sh) on the local server: a database filled through the pipeline's
// own schema is backed up, restored into a fresh database, and compared row
// for row (counts and content hashes of every column that matters).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
)

func TestBackupAndRestoreOnLocalServer(t *testing.T) {
	t.Parallel() // mostly waiting on clickhouse-client: overlaps the other deploy tests
	addr := os.Getenv("IOC_CLICKHOUSE_ADDR")
	if _, err := exec.LookPath("clickhouse-client"); err != nil && addr != "" {
		t.Skip("clickhouse-client not installed (deploy/local/services.sh up installs it)")
	}
	src := chtest.Scratch(t, "ioc_backup_src")
	dst := src
	dst.Database = strings.Replace(src.Database, "_src_", "_dst_", 1)
	chtest.DropOnCleanup(t, dst)
	ctx := context.Background()
	conn, err := src.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "IOC_CLICKHOUSE_ADDR=" + addr, "IOC_BIN=" + iocBin}
	sh := func(db string, args ...string) string {
		t.Helper()
		cmd := exec.Command("bash", args...)
		cmd.Env = append(env, "IOC_CLICKHOUSE_DATABASE="+db)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	// The source: the pipeline's schema, readings (one delivered twice,
	// Vietnamese text) and dead letters with arbitrary bytes.
	migrate := exec.Command(iocBin, "migrate")
	migrate.Env = append(env, "IOC_CLICKHOUSE_DATABASE="+src.Database)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("ioc migrate: %v\n%s", err, out)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+src.Database+".sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, value_string, unit, observed_at, observed_ms, received_at, received_ms, ward, registered, kafka_partition, kafka_offset)")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 5000; i++ {
		at := base.Add(time.Duration(i%2500) * time.Minute) // rows i and i+2500 are the same reading
		dev := fmt.Sprintf("aq-%d", i%2500%37)
		if err := b.Append(event.ReadingID("vnpt", dev, "pm25", at.UnixMilli()), "vnpt", dev, "pm25", int8(1), float64(i%2500)/10,
			"Bình thường", "ug/m3", at, at.UnixMilli(), at, at.UnixMilli(), "Phường Chiềng Lề", uint8(1), int32(i%6), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	b, err = conn.PrepareBatch(ctx, "INSERT INTO "+src.Database+".dead_letters_raw (dl_id, received_at, received_ms, source, source_topic, reason, detail, raw)")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		raw := string([]byte{0xff, 0x00, byte(i), '{'}) + strings.Repeat("x", i)
		if err := b.Append(fmt.Sprintf("dl-%d", i), base, base.UnixMilli()+int64(i), "mqtt", "sensors/vnpt/x", "not_json", "detail ✓", raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	// A backup holds the rows inserted up to one second before it starts:
	// its cutoff is the clock, so time passing is the precondition here,
	// and no condition could be polled for it.
	time.Sleep(2 * time.Second)

	dir := filepath.Join(t.TempDir(), "backup")
	t.Log(sh(src.Database, repoPath("deploy/clickhouse/backup.sh"), dir))
	t.Log(sh(src.Database, repoPath("deploy/clickhouse/restore.sh"), dir, dst.Database))

	for _, q := range []string{
		"SELECT count() FROM %s.sensor_readings_raw",
		"SELECT count() FROM %s.sensor_readings",
		"SELECT sum(cityHash64(event_id, partner, device_id, metric, value, value_string, unit, observed_at, observed_ms, ward, kafka_offset)) FROM %s.sensor_readings_raw",
		"SELECT count() FROM %s.dead_letters",
		"SELECT sum(cityHash64(dl_id, received_ms, source_topic, reason, detail, raw)) FROM %s.dead_letters_raw",
		"SELECT count() FROM %s.schema_migrations",
	} {
		var a, z uint64
		if err := conn.QueryRow(ctx, fmt.Sprintf(q, src.Database)).Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, fmt.Sprintf(q, dst.Database)).Scan(&z); err != nil {
			t.Fatal(err)
		}
		if a != z || a == 0 {
			t.Errorf("%s: source %d, restored %d", fmt.Sprintf(q, "db"), a, z)
		}
	}
	var view uint64
	_ = conn.QueryRow(ctx, "SELECT count() FROM "+dst.Database+".sensor_readings").Scan(&view)
	if view != 2500 {
		t.Errorf("restored view shows %d readings, want 2500 (5000 raw rows, each reading twice)", view)
	}

	// Restoring again into the now full database is refused, and changes nothing.
	cmd := exec.Command("bash", repoPath("deploy/clickhouse/restore.sh"), dir, dst.Database)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already holds") || !strings.Contains(string(out), "restore into an empty database") {
		t.Errorf("second restore into a full database: %v\n%s", err, out)
	}
	var raw uint64
	_ = conn.QueryRow(ctx, "SELECT count() FROM "+dst.Database+".sensor_readings_raw").Scan(&raw)
	if raw != 5000 {
		t.Errorf("after the refused restore: %d raw rows, want 5000", raw)
	}
}
