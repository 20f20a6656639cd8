package chtest

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// A scratch database and its security database exist during the test and
// are gone after its clean-up.
func TestScratchIsDropped(t *testing.T) {
	var ch chconn.Config
	t.Run("create", func(t *testing.T) {
		ch = Scratch(t, "ioc_chtest")
		conn, err := ch.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, db := range []string{ch.Database, ch.SecurityDatabase()} {
			if err := conn.Exec(context.Background(), "CREATE DATABASE "+db); err != nil {
				t.Fatal(err)
			}
		}
	})
	if ch.Database == "" {
		t.Skip("no ClickHouse")
	}
	noneLeft(t, ch)
}

// A migrated scratch database has the schema's tables during the test and
// is gone, with its security database, after its clean-up.
func TestMigratedHasTheSchemaAndIsDropped(t *testing.T) {
	var ch chconn.Config
	t.Run("migrate", func(t *testing.T) {
		var conn driver.Conn
		ch, conn = Migrated(t, "ioc_chtestmig", schema.Migrate)
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ? AND name = 'sensor_readings_raw'",
			ch.Database).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s.sensor_readings_raw: %d tables, want 1", ch.Database, n)
		}
	})
	if ch.Database == "" {
		t.Skip("no ClickHouse")
	}
	noneLeft(t, ch)
}

// noneLeft checks that ch's database and security database are gone.
func noneLeft(t *testing.T, ch chconn.Config) {
	t.Helper()
	conn, err := ch.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.databases WHERE name IN (?, ?)",
		ch.Database, ch.SecurityDatabase()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d of %s and %s left after the test", n, ch.Database, ch.SecurityDatabase())
	}
}
