package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// `ioc device` on the real Kafka and ClickHouse: add with own levels, list,
// edit (levels kept), retire, a refused record, a bulk import twice (the
// second changes nothing), every change audited as service cli.
func TestDeviceCommand(t *testing.T) {
	cfg, _ := scratchConfig(t, "devcli")
	cfg.Stream.RegistryFile = ""
	old := loadDeviceConfig
	loadDeviceConfig = func(string) (*Config, error) { return cfg, nil }
	t.Cleanup(func() { loadDeviceConfig = old })
	ctx := context.Background()
	conn, err := cfg.ClickHouse.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := schema.Migrate(ctx, conn, cfg.ClickHouse, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	device := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := deviceCommand(ctx, args, &out)
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := device(args...)
		if err != nil {
			t.Fatalf("ioc device %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	list := func(args ...string) map[string]registry.Record {
		t.Helper()
		got := map[string]registry.Record{}
		for _, line := range strings.Split(strings.TrimSpace(must(append([]string{"list", "-json"}, args...)...)), "\n") {
			if line == "" {
				continue
			}
			var r registry.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("list line %q: %v", line, err)
			}
			got[r.ID] = r
		}
		return got
	}

	must("add", "-id", "cli-water-1", "-partner", "viettel", "-type", "water_level", "-ward", "Xã Chiềng Cọ", "-name", "Trạm CLI",
		"-lat", "21.35", "-lon", "103.89", "-interval", "60s", "-levels", "water_level=Báo động 1:3.0:warning,Báo động 2:3.5:alert")
	r := list()["cli-water-1"]
	if r.Source != registry.SourceCLI || !strings.HasPrefix(r.Actor, "cli") || len(r.Alarms) != 1 || r.Alarms[0].Levels[1].Value != 3.5 {
		t.Fatalf("added record %+v", r)
	}
	must("edit", "-id", "cli-water-1", "-name", "Trạm CLI đã sửa",
		"-maintenance", "2026-12-01T08:00:00+07:00/2026-12-01T17:00:00+07:00/thay cảm biến")
	r = list()["cli-water-1"]
	if r.Name != "Trạm CLI đã sửa" || len(r.Alarms) != 1 || len(r.Maintenance) != 1 || r.Maintenance[0].Note != "thay cảm biến" {
		t.Errorf("edited record %+v: name changed, levels kept, one window", r)
	}
	if out, err := device("add", "-id", "cli-bad", "-partner", "viettel", "-type", "water_level", "-ward", "W", "-name", "N",
		"-lat", "21", "-lon", "103", "-interval", "60s", "-levels", "water_level=x:1:panic"); err == nil || !strings.Contains(err.Error(), "severity") {
		t.Errorf("bad severity: %v %s", err, out)
	}
	must("retire", "-id", "cli-water-1", "-note", "dỡ bỏ")
	if _, ok := list()["cli-water-1"]; ok {
		t.Error("a retired device is listed without -retired")
	}
	if r := list("-retired")["cli-water-1"]; !r.Retired || r.Note != "dỡ bỏ" {
		t.Errorf("retired record %+v", r)
	}

	csv := filepath.Join(t.TempDir(), "devices.csv")
	if err := os.WriteFile(csv, []byte("device_id,partner,type,ward,name,lat,lon,interval_s\n"+
		"cli-rain-1,vnpt,rainfall,Phường Tô Hiệu,Mưa 1,21.32,103.91,60\n"+
		"cli-rain-2,vnpt,rainfall,Phường Tô Hiệu,Mưa 2,21.33,103.92,60\n"+
		"cli-water-1,viettel,water_level,Xã Chiềng Cọ,Trạm CLI,21.35,103.89,60\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := must("import", "-file", csv); !strings.Contains(out, "2 added, 0 updated, 0 unchanged, 1 retired left retired") {
		t.Errorf("first import: %s", out)
	}
	if out := must("import", "-file", csv); !strings.Contains(out, "0 added, 0 updated, 2 unchanged") {
		t.Errorf("second import: %s", out)
	}
	testpoll.Eventually(t, 20*time.Second, "the changes in the audit log", func() (bool, string) {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT count() FROM "+cfg.ClickHouse.SecurityTable("audit_log")+
			" WHERE service = 'cli' AND action IN ('device.add', 'device.edit', 'device.retire')").Scan(&n)
		// add, edit, refused add, retire, two imported adds
		return err == nil && n == 6, fmt.Sprintf("%d rows, %v", n, err)
	})
}
