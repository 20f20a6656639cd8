package e2e

// Least-privilege ClickHouse accounts on a ClickHouse server of this test,
// configured by deploy/local/services.sh exactly as on every developer's
// machine and in CI (users.xml: ioc_pipeline, ioc_analyst), with a small
// analyst quota and memory limit so that the test can reach them. Every
// refusal is asserted and found in the server's own audit trail,
// system.query_log (user, query, error, client address).

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/stream/schema"
)

const analystQuota = 25 // queries per hour on the test's server

func startClickHouse(t *testing.T) (addr, secrets string) {
	t.Helper()
	repo, _ := filepath.Abs("..")
	dir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	env := append(os.Environ(), "IOC_LOCAL_DIR="+dir, fmt.Sprintf("IOC_CH_PORT=%d", port), fmt.Sprintf("IOC_CH_HTTP_PORT=%d", httpPort),
		fmt.Sprintf("IOC_CH_ANALYST_QUERIES_PER_HOUR=%d", analystQuota), "IOC_CH_ANALYST_MAX_MEMORY=100000000")
	svc := func(args ...string) {
		cmd := exec.Command(filepath.Join(repo, "deploy/local/services.sh"), args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("services.sh %v: %v\n%s", args, err, out)
		}
	}
	svc("up", "clickhouse")
	t.Cleanup(func() { svc("down", "clickhouse") }) // stops only the server it started (its pid file under dir)
	return fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(dir, "clickhouse", "secrets")
}

func openAs(t *testing.T, addr, database, user, secrets string) driver.Conn {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(secrets, user+".password"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr},
		Auth: clickhouse.Auth{Database: database, Username: user, Password: strings.TrimSpace(string(pw))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused runs q and wants the server's error with one of the codes.
func refused(t *testing.T, c driver.Conn, who, q string, codes ...int32) {
	t.Helper()
	err := c.Exec(context.Background(), q)
	ex, ok := err.(*clickhouse.Exception)
	if !ok {
		t.Errorf("%s: %q was not refused by the server (err %v)", who, q, err)
		return
	}
	for _, code := range codes {
		if ex.Code == code {
			return
		}
	}
	t.Errorf("%s: %q refused with code %d (%s), want %v", who, q, ex.Code, ex.Message, codes)
}

func TestClickHouseAccountsAreLeastPrivilege(t *testing.T) {
	addr, secrets := startClickHouse(t)
	ctx := context.Background()
	adm := chconn.Config{Addr: []string{addr}, Database: "ioc"}
	adm.Defaults()
	admin, err := adm.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := schema.Migrate(ctx, admin, adm, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}

	// The pipeline: inserts and reads its tables (the data and security
	// databases), and nothing else.
	pipeline := openAs(t, addr, "default", "ioc_pipeline", secrets)
	b, err := pipeline.PrepareBatch(ctx, "INSERT INTO ioc.dead_letters_raw (dl_id, reason)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("e2e-"+pipe.run, "e2e"); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatalf("pipeline insert: %v", err)
	}
	var n uint64
	if err := pipeline.QueryRow(ctx, "SELECT count() FROM ioc_security.audit_log").Scan(&n); err != nil {
		t.Errorf("pipeline reading the audit log it writes: %v", err)
	}
	const ddl, readonly, denied = 392, 164, 291
	for _, q := range []string{
		"DROP TABLE ioc.sensor_readings_raw",
		"ALTER TABLE ioc.sensor_readings_raw DELETE WHERE 1",
		"TRUNCATE TABLE ioc_security.audit_log",
		"CREATE TABLE ioc.x (a UInt8) ENGINE = Memory",
	} {
		refused(t, pipeline, "pipeline", q, ddl)
	}
	refused(t, pipeline, "pipeline", "SELECT count() FROM system.one WHERE 0 UNION ALL SELECT count() FROM other.t", denied, 81)

	// The analyst: reads the data database, never writes, never reaches the
	// security database, cannot lift its own limits.
	analyst := openAs(t, addr, "ioc", "ioc_analyst", secrets)
	if err := analyst.QueryRow(ctx, "SELECT count() FROM ioc.dead_letters").Scan(&n); err != nil || n != 1 {
		t.Fatalf("analyst reading ioc.dead_letters: %d rows, %v", n, err)
	}
	for _, q := range []string{
		"INSERT INTO ioc.dead_letters_raw (dl_id) VALUES ('analyst')",
		"ALTER TABLE ioc.sensor_readings_raw DELETE WHERE 1",
		"DROP TABLE ioc.sensor_readings_raw",
		"SET max_memory_usage = 0",
	} {
		refused(t, analyst, "analyst", q, readonly)
	}
	refused(t, analyst, "analyst", "SELECT * FROM ioc_security.users", denied)
	refused(t, analyst, "analyst", "SELECT * FROM ioc_security.audit_log", denied)
	refused(t, analyst, "analyst", "SELECT count() FROM (SELECT groupArray(number) FROM (SELECT number FROM system.numbers LIMIT 30000000))", 241) // memory limit
	// The hourly quota: the queries above count; more until it bites.
	quota := false
	for i := 0; i < analystQuota+5 && !quota; i++ {
		err := analyst.QueryRow(ctx, "SELECT 1").Scan(new(uint8))
		quota = err != nil && strings.Contains(err.Error(), "Quota for user")
	}
	if !quota {
		t.Errorf("%d queries within the hour and the analyst quota never refused one", analystQuota+5)
	}

	// Every refusal is in the server's query log, with who and from where.
	if err := admin.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, like string
	}{
		{"ioc_pipeline", "DROP TABLE ioc.sensor_readings_raw"},
		{"ioc_analyst", "INSERT INTO ioc.dead_letters_raw%"},
		{"ioc_analyst", "ALTER TABLE%"},
		{"ioc_analyst", "SELECT * FROM ioc_security.users"},
	} {
		eventually(t, 20*time.Second, "query_log records "+c.user+" "+c.like, func() (bool, string) {
			var n uint64
			err := admin.QueryRow(ctx, "SELECT count() FROM system.query_log WHERE user = ? AND query LIKE ? AND exception != '' AND IPv6NumToString(address) != '::'",
				c.user, c.like).Scan(&n)
			if n == 0 {
				_ = admin.Exec(ctx, "SYSTEM FLUSH LOGS")
			}
			return n > 0, fmt.Sprint(n, err)
		})
	}
}
