package e2e

// Least-privilege ClickHouse accounts on a ClickHouse server of this test,
// configured by deploy/local/services.sh exactly as on every developer's
// machine and in CI (users.xml: ioc_pipeline, ioc_dashboard, ioc_ingest,
// ioc_analyst; docs/security.md, "ClickHouse accounts"), with a small
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

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/auth"
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
	// Bounded: ClickHouse 18.16 may hang up on an INSERT ... VALUES it took.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Exec(ctx, q)
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

	const ddl, readonly, denied = 392, 164, 291
	cfg := adm
	cfg.Accounts = map[string]chconn.Account{}
	for role, user := range map[string]string{chconn.RoleStream: "ioc_pipeline", chconn.RoleDashboard: "ioc_dashboard", chconn.RoleIngest: "ioc_ingest"} {
		cfg.Accounts[role] = chconn.Account{Username: user, PasswordFile: filepath.Join(secrets, user+".password")}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// The pipeline (stream): inserts and reads the data database, and
	// nothing of ioc_security: it can neither add an account nor write or
	// read the audit log.
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
	if err := pipeline.QueryRow(ctx, "SELECT count() FROM ioc.dead_letters").Scan(&n); err != nil || n != 1 {
		t.Errorf("pipeline reading ioc.dead_letters: %d rows, %v", n, err)
	}
	for _, q := range []string{
		"DROP TABLE ioc.sensor_readings_raw",
		"ALTER TABLE ioc.sensor_readings_raw DELETE WHERE 1",
		"CREATE TABLE ioc.x (a UInt8) ENGINE = Memory",
	} {
		refused(t, pipeline, "pipeline", q, ddl)
	}
	refused(t, pipeline, "pipeline", "SELECT count() FROM system.one WHERE 0 UNION ALL SELECT count() FROM other.t", denied, 81)
	for _, q := range []string{
		"SELECT count() FROM ioc_security.audit_log",
		"SELECT password_hash FROM ioc_security.users",
		"INSERT INTO ioc_security.users (username, role, version) VALUES ('mallory', 'admin', 18446744073709551615)",
		"INSERT INTO ioc_security.audit_log (event_id, actor) VALUES ('forged', 'mallory')",
		"INSERT INTO ioc_security.kiosk_tokens (id, revoked, version) VALUES ('k', 0, 18446744073709551615)",
	} {
		refused(t, pipeline, "pipeline", q, denied)
	}
	refused(t, pipeline, "pipeline", "TRUNCATE TABLE ioc_security.audit_log", ddl, denied)
	// Through the configuration the roles use (clickhouse.accounts): the
	// stream's account cannot save a dashboard account.
	if err := auth.NewCHStore(cfg.For(chconn.RoleStream)).PutUser(ctx, auth.User{Username: "mallory", Role: auth.RoleAdmin}); err == nil {
		t.Error("the stream's account (clickhouse.accounts.stream) saved a dashboard account")
	}

	// The dashboard: signs in, manages accounts and kiosk tokens, appends
	// to the audit log and reads the data; never rewrites or deletes the
	// audit log, never creates or drops a table.
	dashCfg := cfg.For(chconn.RoleDashboard)
	store := auth.NewCHStore(dashCfg)
	defer store.Close()
	if err := store.PutUser(ctx, auth.User{Username: "lan", Role: auth.RoleOperator, Epoch: 1}); err != nil {
		t.Fatalf("dashboard saving an account: %v", err)
	}
	if err := store.PutKiosk(ctx, auth.Kiosk{ID: "k1", Name: "wall-1", Scope: "wall"}); err != nil {
		t.Fatalf("dashboard saving a kiosk token: %v", err)
	}
	if us, err := store.Users(ctx); err != nil || len(us) != 1 {
		t.Fatalf("dashboard reading accounts: %v, %v", us, err)
	}
	dashboard := openAs(t, addr, "default", "ioc_dashboard", secrets)
	if err := dashboard.QueryRow(ctx, "SELECT count() FROM ioc.dead_letters").Scan(&n); err != nil || n != 1 {
		t.Errorf("dashboard reading ioc.dead_letters: %d rows, %v", n, err)
	}
	// Two rows with one key (the second as a forger would write it): the
	// append-only audit log keeps both, also after OPTIMIZE FINAL, and the
	// admin view shows both.
	for _, actor := range []string{"lan", "forger"} {
		b, err := dashboard.PrepareBatch(ctx, "INSERT INTO ioc_security.audit_log (event_id, at, at_ms, actor, action, outcome)")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Truncate(time.Second)
		if err := b.Append("ev-"+pipe.run, at, at.UnixMilli(), actor, "auth.login", "ok"); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatalf("dashboard appending to the audit log: %v", err)
		}
	}
	if err := admin.Exec(ctx, "OPTIMIZE TABLE ioc_security.audit_log FINAL"); err != nil {
		t.Fatal(err)
	}
	if err := admin.QueryRow(ctx, "SELECT count() FROM ioc_security.audit_log WHERE event_id = ?", "ev-"+pipe.run).Scan(&n); err != nil || n != 2 {
		t.Errorf("audit rows with one key after OPTIMIZE FINAL: %d (%v), want 2: the second replaced the first", n, err)
	}
	evs, err := audit.NewReader(dashCfg).Query(ctx, dashboard, audit.Filter{Action: "auth."})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Errorf("the audit view shows %d events for two rows with one key, want both: %+v", len(evs), evs)
	}
	for _, q := range []string{
		"ALTER TABLE ioc_security.audit_log DELETE WHERE 1",
		"ALTER TABLE ioc_security.audit_log UPDATE actor = 'x' WHERE 1",
		"ALTER TABLE ioc_security.audit_log DROP PARTITION 202601",
		"TRUNCATE TABLE ioc_security.audit_log",
		"DROP TABLE ioc_security.audit_log",
		"RENAME TABLE ioc_security.audit_log TO ioc_security.old",
		"CREATE TABLE ioc_security.audit_log2 (a UInt8) ENGINE = Memory",
		"CREATE TABLE ioc.x (a UInt8) ENGINE = Memory",
		"ALTER TABLE ioc.sensor_readings_raw DELETE WHERE 1",
	} {
		refused(t, dashboard, "dashboard", q, ddl)
	}
	refused(t, dashboard, "dashboard", "SELECT count() FROM other.t", denied, 81)

	// Ingest: appends audit events (refused administrative posts) and
	// reaches nothing of the data.
	ingest := openAs(t, addr, "default", "ioc_ingest", secrets)
	b, err = ingest.PrepareBatch(ctx, "INSERT INTO ioc_security.audit_log (event_id, actor, action, outcome)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("ingest-"+pipe.run, "system", "system.post", "denied"); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatalf("ingest appending to the audit log: %v", err)
	}
	refused(t, ingest, "ingest", "SELECT count() FROM ioc.dead_letters", denied)
	refused(t, ingest, "ingest", "INSERT INTO ioc.dead_letters_raw (dl_id) VALUES ('ingest')", denied)
	refused(t, ingest, "ingest", "ALTER TABLE ioc_security.audit_log DELETE WHERE 1", ddl)

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
		{"ioc_pipeline", "INSERT INTO ioc_security.users%"},
		{"ioc_dashboard", "ALTER TABLE ioc_security.audit_log DELETE%"},
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
