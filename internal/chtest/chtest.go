// Package chtest gives tests scratch ClickHouse databases that are gone
// when the test ends: a migration creates a database and its security
// database (chconn.Config.SecurityDatabase), and both must be dropped.
// internal/layout checks that every test naming a scratch database uses it.
package chtest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
)

// Scratch returns the configuration of a new database named
// "<prefix>_<run>" on the ClickHouse of IOC_CLICKHOUSE_ADDR (the test is
// skipped when it is not set), dropped with DropOnCleanup.
func Scratch(t testing.TB, prefix string) chconn.Config {
	t.Helper()
	addr := os.Getenv("IOC_CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("IOC_CLICKHOUSE_ADDR not set (eval \"$(deploy/local/services.sh env)\")")
	}
	ch := chconn.Config{Addr: strings.Split(addr, ","), Database: Name(prefix)}
	ch.Defaults()
	DropOnCleanup(t, ch)
	return ch
}

// MigrateFunc is schema.Migrate's signature. The caller passes
// schema.Migrate in: chtest cannot import stream/schema, whose own tests
// use chtest.
type MigrateFunc func(ctx context.Context, conn driver.Conn, ch chconn.Config, log *slog.Logger) error

// Migrated is Scratch with the schema: a new database migrated by migrate
// (schema.Migrate), and a connection to it that is closed, and the
// databases dropped, when the test ends.
func Migrated(t testing.TB, prefix string, migrate MigrateFunc) (chconn.Config, driver.Conn) {
	t.Helper()
	ch := Scratch(t, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := ch.Open(ctx)
	if err != nil {
		t.Fatalf("opening the scratch database %s: %v", ch.Database, err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := migrate(ctx, conn, ch, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrating the scratch database %s: %v", ch.Database, err)
	}
	return ch, conn
}

// Name is "<prefix>_<run>", a run being unique enough for the tests of
// one machine at once.
func Name(prefix string) string {
	return fmt.Sprintf("%s_%d%04d", prefix, time.Now().Unix()%100000, rand.IntN(10000))
}

// DropOnCleanup drops ch.Database and its security database (ON CLUSTER
// ch.Cluster in cluster mode) when the test ends, through a connection of
// its own, so that a connection the test closed does not matter. Set
// IOC_TEST_KEEP=1 to keep the databases of a failed test for inspection.
func DropOnCleanup(t testing.TB, ch chconn.Config) {
	t.Helper()
	if !strings.HasPrefix(ch.Database, "ioc_") || ch.Database == "ioc" {
		t.Fatalf("chtest: %q is not a scratch database name (ioc_<what>_<run>)", ch.Database)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("IOC_TEST_KEEP") != "" {
			t.Logf("kept for inspection: databases %s, %s", ch.Database, ch.SecurityDatabase())
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		conn, err := ch.Open(ctx)
		if err != nil {
			t.Errorf("dropping the test's databases %s: %v", ch.Database, err)
			return
		}
		defer conn.Close()
		on := ""
		if ch.Cluster != "" {
			on = " ON CLUSTER " + ch.Cluster
		}
		for _, db := range []string{ch.Database, ch.SecurityDatabase()} {
			if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+on); err != nil {
				t.Errorf("dropping the test's database %s: %v", db, err)
			}
		}
	})
}
