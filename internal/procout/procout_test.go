package procout_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/procout"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// A process writes while the test reads; under go test -race a plain
// bytes.Buffer fails here (e2e's test broker met it), Buffer does not.
func TestReadWhileTheProcessWrites(t *testing.T) {
	var out procout.Buffer
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 2000 ]; do echo "dòng $i"; i=$((i+1)); done; echo xong >&2`)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read often while the process writes, as a test's poll does.
	testpoll.Eventually(t, 30*time.Second, "the process's last line", func() (bool, string) {
		tail := out.Tail(32)
		return strings.Contains(tail, "xong"), tail
	})
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "dòng "); got != 2000 {
		t.Fatalf("%d lines collected; want 2000", got)
	}
	if tail := out.Tail(5); tail != "xong\n" {
		t.Fatalf("Tail(5) = %q; want %q", tail, "xong\n")
	}
	if all := out.Tail(1 << 30); all != out.String() {
		t.Fatal("Tail of more than was written is not everything written")
	}
}
