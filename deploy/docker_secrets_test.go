package deploy_test

// The two scripts behind the Compose secrets, run for real: make-secrets.sh
// writes a random value per file (kept on a second run), and the ClickHouse
// init script turns those files into CREATE/ALTER USER ... sha256_hash
// statements with the grants, refusing a missing or short password before
// it sends anything. The SQL itself
// needs a server with SQL access control (20.5+, the compose file's 25.8);
// the local 18.16 has none, so it is checked as text here.

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var composeSecretFiles = []string{"clickhouse-admin-password", "clickhouse-pipeline-password", "clickhouse-dashboard-password",
	"clickhouse-analyst-password", "mqtt-ingest-password", "session-key"}

func TestMakeSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	run := func() map[string]string {
		out, err := exec.Command("bash", repoPath("deploy/docker/make-secrets.sh"), dir).CombinedOutput()
		if err != nil {
			t.Fatalf("make-secrets.sh: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, f := range composeSecretFiles {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			got[f] = string(b)
			min := 24
			if f == "session-key" {
				min = 32 // dashboard.auth.session_key_file refuses less
			}
			if len(b) < min || strings.ContainsAny(string(b), " \n") {
				t.Errorf("%s: %q: want at least %d characters, no whitespace", f, b, min)
			}
		}
		return got
	}
	first := run()
	seen := map[string]bool{}
	for f, v := range first {
		if seen[v] {
			t.Errorf("%s: the same value as another file", f)
		}
		seen[v] = true
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the folder: %v, mode %v; want 700", err, st.Mode().Perm())
	}
	if again := run(); !mapsEqual(first, again) {
		t.Error("a second run changed existing secrets; it must keep them (the accounts were created from them)")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// runInitScript sources the init script as the image's entrypoint does,
// with clickhouse-client replaced by a capture of its input.
func runInitScript(t *testing.T, secrets string) (string, error) {
	t.Helper()
	sqlFile := filepath.Join(t.TempDir(), "sql")
	script := `set -eo pipefail
clickhouseclient=( tee "$SQL_OUT" )
. "$INIT_SCRIPT"`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "SQL_OUT="+sqlFile, "INIT_SCRIPT="+repoPath("deploy/docker/clickhouse/initdb/10-ioc-accounts.sh"),
		"IOC_ACCOUNTS_SECRETS="+secrets)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), err
	}
	b, _ := os.ReadFile(sqlFile)
	return string(b), nil
}

func TestClickHouseInitAccounts(t *testing.T) {
	dir := t.TempDir()
	pw := map[string]string{"pipeline": "pipeline-pass-1234", "dashboard": "dashboard-pass-1234", "analyst": "analyst-pass-12345",
		"notify": "notify-pass-123456"}
	for who, p := range pw {
		if err := os.WriteFile(filepath.Join(dir, "clickhouse-"+who+"-password"), []byte(p+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sql, err := runInitScript(t, dir)
	if err != nil {
		t.Fatalf("init script: %v\n%s", err, sql)
	}
	for who, p := range pw {
		sum := sha256.Sum256([]byte(p)) // the file's trailing newline is not part of it
		h := hex.EncodeToString(sum[:])
		for _, want := range []string{"CREATE USER IF NOT EXISTS ioc_" + who + " IDENTIFIED WITH sha256_hash BY '" + h + "';",
			"ALTER USER ioc_" + who + " IDENTIFIED WITH sha256_hash BY '" + h + "';"} {
			if !strings.Contains(sql, want) {
				t.Errorf("no %q in:\n%s", want, sql)
			}
		}
		if strings.Contains(sql, p) {
			t.Errorf("the password of %s appears in the SQL", who)
		}
	}
	for _, g := range []string{"GRANT SELECT, INSERT ON ioc.* TO ioc_pipeline;", "GRANT SELECT, INSERT ON ioc_security.* TO ioc_dashboard;",
		"GRANT SELECT ON ioc.* TO ioc_analyst;", "GRANT SELECT, INSERT ON ioc.notification_log TO ioc_notify;"} {
		if !strings.Contains(sql, g) {
			t.Errorf("no %q", g)
		}
	}
	// A short password stops the initialisation (and so the container).
	if err := os.WriteFile(filepath.Join(dir, "clickhouse-analyst-password"), []byte("short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runInitScript(t, dir); err == nil || !strings.Contains(out, "shorter than 12") || strings.Contains(out, "CREATE USER") {
		t.Errorf("a 5-character password: %v\n%s\nwant a refusal before any statement is sent", err, out)
	}
	if err := os.Remove(filepath.Join(dir, "clickhouse-analyst-password")); err != nil {
		t.Fatal(err)
	}
	if out, err := runInitScript(t, dir); err == nil || !strings.Contains(out, "is missing") {
		t.Errorf("a missing password file: %v\n%s", err, out)
	}
}
