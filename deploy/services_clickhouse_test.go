package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// A ClickHouse server that an earlier version of services.sh started (so
// with the accounts of that version) gets today's accounts from the next
// `services.sh up`, without a restart: make run and make test must work
// whatever state an earlier install left behind.
func TestServicesUpGivesARunningClickHouseTodaysAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ClickHouse server of its own")
	}
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		if _, err := os.Stat("/usr/sbin/clickhouse-server"); err != nil {
			t.Skip("clickhouse-server not installed (deploy/local/services.sh up installs it)")
		}
	}
	local := t.TempDir()
	port := freeLoopbackPort(t)
	httpPort := freeLoopbackPort(t, port)
	sh := servicesSh(t, "IOC_LOCAL_DIR="+local,
		fmt.Sprintf("IOC_CH_PORT=%d", port), fmt.Sprintf("IOC_CH_HTTP_PORT=%d", httpPort))
	t.Cleanup(func() {
		if out, err := sh("down", "clickhouse"); err != nil {
			t.Logf("services.sh down clickhouse: %v\n%s", err, out)
		}
	})
	if out, err := sh("up", "clickhouse"); err != nil {
		t.Fatalf("services.sh up clickhouse: %v\n%s", err, out)
	}
	// What an earlier version wrote: no ioc_dashboard account.
	users := filepath.Join(local, "clickhouse", "users.xml")
	b, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	old := regexp.MustCompile(`(?s)<ioc_dashboard>.*?</ioc_dashboard>`).ReplaceAll(b, nil)
	if err := os.WriteFile(users, old, 0o644); err != nil {
		t.Fatal(err)
	}
	// ClickHouse notices a changed users.xml by its modification time, in
	// whole seconds: make the change visible even within the same second.
	earlier := time.Now().Add(-10 * time.Second)
	if err := os.Chtimes(users, earlier, earlier); err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(filepath.Join(local, "clickhouse", "secrets", "ioc_dashboard.password"))
	if err != nil {
		t.Fatal(err)
	}
	signIn := func() error {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{fmt.Sprintf("127.0.0.1:%d", port)},
			Auth: clickhouse.Auth{Username: "ioc_dashboard", Password: strings.TrimSpace(string(pw))}})
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return conn.Ping(ctx)
	}
	testpoll.Eventually(t, 30*time.Second, "the server forgets ioc_dashboard (the earlier version's users.xml)", func() (bool, string) {
		err := signIn()
		return err != nil, fmt.Sprintf("sign-in: %v", err)
	})
	if out, err := sh("up", "clickhouse"); err != nil || !strings.Contains(out, "already running") {
		t.Fatalf("services.sh up clickhouse on a running server: %v\n%s", err, out)
	}
	testpoll.Eventually(t, 30*time.Second, "ioc_dashboard signs in after `up`, without a restart", func() (bool, string) {
		err := signIn()
		return err == nil, fmt.Sprintf("sign-in: %v", err)
	})
}
