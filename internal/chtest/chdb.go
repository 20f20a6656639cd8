package chtest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ChdbPython is the Python of IOC_CHDB_PYTHON: one with chdb-core, which
// runs a current ClickHouse release (26.x) in process (`make rbac-check`
// installs it). Without it the test is skipped, saying what it would run.
func ChdbPython(t testing.TB, what string) string {
	t.Helper()
	py := os.Getenv("IOC_CHDB_PYTHON")
	if py == "" {
		t.Skip("IOC_CHDB_PYTHON not set: a Python with chdb-core (ClickHouse 26.x in process) runs " + what)
	}
	return py
}

// RunChdb runs script with py, giving it input as JSON on its standard
// input with "dir" set to a fresh temporary folder (for the chdb session's
// files), and returns what it printed; the test fails if it exits with an
// error, showing both of its outputs.
func RunChdb(t testing.TB, py, script string, input map[string]any) []byte {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "check.py")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"dir": dir}
	for k, v := range input {
		in[k] = v
	}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, file)
	cmd.Stdin = bytes.NewReader(body)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s\n%s", py, err, out.String(), errb.String())
	}
	return out.Bytes()
}
