package deploy_test

// backup.sh and restore.sh never put the ClickHouse password on a command
// line (where `ps` and /proc/PID/cmdline show it to every user of the
// host): they take it from IOC_CLICKHOUSE_PASSWORD_FILE or
// IOC_CLICKHOUSE_PASSWORD and hand it to clickhouse-client in a
// configuration file. Checked on a ClickHouse server of this test,
// configured by deploy/local/services.sh (its ioc_pipeline account has a
// password), through a clickhouse-client wrapper that records the command
// line of every client the scripts start.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// freeLocalPort is a free port below 32768, where Linux never hands out
// the ports of outgoing connections (docs: PARTS "Ports for extra test
// instances").
func freeLocalPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		p := 20000 + rand.IntN(12000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

// startOwnClickHouse runs a ClickHouse server for this test, configured by
// deploy/local/services.sh as on every machine (its accounts and their
// passwords under dir/clickhouse/secrets), and stops it at the end.
func startOwnClickHouse(t *testing.T) (dir string, port int) {
	t.Helper()
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		if _, err := os.Stat("/usr/bin/clickhouse-server"); err != nil {
			t.Skip("clickhouse-server not installed (deploy/local/services.sh up installs it)")
		}
	}
	dir = t.TempDir()
	port = freeLocalPort(t)
	svcEnv := append(os.Environ(), "IOC_LOCAL_DIR="+dir, fmt.Sprintf("IOC_CH_PORT=%d", port), fmt.Sprintf("IOC_CH_HTTP_PORT=%d", freeLocalPort(t)))
	svc := func(args ...string) {
		cmd := exec.Command(repoPath("deploy/local/services.sh"), args...)
		cmd.Env = svcEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("services.sh %v: %v\n%s", args, err, out)
		}
	}
	svc("up", "clickhouse")
	t.Cleanup(func() { svc("down", "clickhouse") }) // only the server it started (pid file under dir)
	return dir, port
}

func TestBackupScriptsKeepThePasswordOffTheCommandLine(t *testing.T) {
	client, err := exec.LookPath("clickhouse-client")
	if err != nil {
		t.Skip("clickhouse-client not installed (deploy/local/services.sh up installs it)")
	}
	dir, port := startOwnClickHouse(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	secret := filepath.Join(dir, "clickhouse", "secrets", "ioc_pipeline.password")
	pw, err := os.ReadFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pw))

	// The schema and a row, as the administrative account.
	migrate := exec.Command(iocBin, "migrate")
	migrate.Env = []string{"PATH=" + os.Getenv("PATH"), "IOC_CLICKHOUSE_ADDR=" + addr}
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("ioc migrate: %v\n%s", err, out)
	}
	if out, err := exec.Command(client, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--query",
		"INSERT INTO ioc.dead_letters_raw (dl_id, reason) VALUES ('pw-test', 'e2e')").CombinedOutput(); err != nil {
		t.Fatalf("inserting a row: %v\n%s", err, out)
	}

	// The wrapper appends each command line (arguments NUL-separated, one
	// call a line) to calls.log, then runs the real client.
	calls := filepath.Join(dir, "calls.log")
	wrapper := filepath.Join(dir, "clickhouse-client")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/bash\n{ printf '%%s\\0' \"$@\"; printf '\\n'; } >>%q\nexec %q \"$@\"\n", calls, client)), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(extra []string, args ...string) (string, error) {
		cmd := exec.Command("bash", args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "IOC_CLICKHOUSE_ADDR=" + addr,
			"IOC_CLICKHOUSE_DATABASE=ioc", "IOC_CLICKHOUSE_USER=ioc_pipeline", "CLICKHOUSE_CLIENT=" + wrapper, "IOC_BIN=true"}, extra...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	// From a file, then from the environment: each backup works, so the
	// password reached the server.
	for i, extra := range [][]string{{"IOC_CLICKHOUSE_PASSWORD_FILE=" + secret}, {"IOC_CLICKHOUSE_PASSWORD=" + password}} {
		out, err := run(extra, repoPath("deploy/clickhouse/backup.sh"), filepath.Join(dir, fmt.Sprint("backup", i)))
		if err != nil || !strings.Contains(out, "ioc.dead_letters_raw: ") {
			t.Fatalf("backup.sh as ioc_pipeline with %s: %v\n%s", strings.SplitN(extra[0], "=", 2)[0], err, out)
		}
	}
	// restore.sh (IOC_BIN=true skips its `ioc migrate`): it signs in, finds
	// the database full and refuses.
	out, err := run([]string{"IOC_CLICKHOUSE_PASSWORD_FILE=" + secret}, repoPath("deploy/clickhouse/restore.sh"), filepath.Join(dir, "backup0"), "ioc")
	if err == nil || !strings.Contains(out, "already holds") {
		t.Fatalf("restore.sh into the full database: %v\n%s", err, out)
	}

	log, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
	if len(lines) < 10 {
		t.Fatalf("only %d clickhouse-client calls recorded", len(lines))
	}
	for _, l := range lines {
		args := strings.Split(strings.TrimSuffix(l, "\x00"), "\x00")
		if strings.Contains(l, password) {
			t.Fatalf("a clickhouse-client command line holds the password: %q", args)
		}
		conf := ""
		for i, a := range args {
			if a == "--config-file" && i+1 < len(args) {
				conf = args[i+1]
			}
		}
		if conf == "" {
			t.Fatalf("a clickhouse-client call without --config-file: %q", args)
		}
		if _, err := os.Stat(conf); !os.IsNotExist(err) {
			t.Errorf("the client configuration %s (it held the password) is still there after the script ended", conf)
		}
	}
}
