package deploy_test

// deploy/local/services.sh starts Kafka whatever cluster id an earlier
// version left behind (issue 13): the old script made a random URL-safe base64
// id, which began with '-' one time in 64; `kafka-storage format -t -…` then
// read it as an option and every later `make run` failed on the saved id.
// This test starts a Kafka of its own (its own folder, with a space in its
// path, and its own ports), with such an id pre-saved, and checks that it
// starts, says what it did with the id, and formatted with a usable id.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// freeLoopbackPort picks a port below Linux's ephemeral range (32768-60999,
// where an outgoing connection could take it) that nothing listens on now.
func freeLoopbackPort(t *testing.T, not ...int) int {
	t.Helper()
next:
	for range 200 {
		p := 20000 + rand.IntN(12000)
		for _, n := range not {
			if p == n {
				continue next
			}
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatal("no free port found between 20000 and 32000")
	return 0
}

func TestServicesKafkaStartsWithASavedClusterIDBeginningWithDash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kafka broker of its own (about 30 s)")
	}
	for _, prog := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s not installed (deploy/local/services.sh up installs it)", prog)
		}
	}
	local := filepath.Join(t.TempDir(), "local with space")
	kafkaDir := filepath.Join(local, "kafka")
	if err := os.MkdirAll(kafkaDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What the old script saved one time in 64: 22 URL-safe base64 characters, '-' first.
	const badID = "-Jx3kQpL0aZ9_bT4eW7yRg"
	if err := os.WriteFile(filepath.Join(kafkaDir, "cluster.id"), []byte(badID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kport := freeLoopbackPort(t)
	cport := freeLoopbackPort(t, kport)
	sh := servicesSh(t, "IOC_LOCAL_DIR="+local,
		fmt.Sprintf("IOC_KAFKA_PORT=%d", kport),
		fmt.Sprintf("IOC_KAFKA_CONTROLLER_PORT=%d", cport),
		"IOC_KAFKA_HEAP_OPTS=-Xms128m -Xmx512m")
	t.Cleanup(func() {
		if out, err := sh("down", "kafka"); err != nil {
			t.Errorf("services.sh down kafka: %v\n%s", err, out)
		}
	})

	out, err := sh("up", "kafka")
	t.Logf("services.sh up kafka:\n%s", out)
	if err != nil {
		if b, rerr := os.ReadFile(filepath.Join(kafkaDir, "log", "format.log")); rerr == nil {
			t.Logf("format.log:\n%s", b)
		}
		t.Fatalf("services.sh up kafka with a saved cluster id %q: %v", badID, err)
	}
	if !strings.Contains(out, badID) || !strings.Contains(out, "replaced") {
		t.Errorf("up said nothing about replacing the saved id %q:\n%s", badID, out)
	}
	saved, err := os.ReadFile(filepath.Join(kafkaDir, "cluster.id"))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(saved))
	if !regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{21}$`).MatchString(id) {
		t.Errorf("cluster.id now holds %q: want a 22-character id that does not begin with '-'", id)
	}
	meta, err := os.ReadFile(filepath.Join(kafkaDir, "data", "meta.properties"))
	if err != nil {
		t.Fatalf("the storage was not formatted: %v", err)
	}
	if !strings.Contains(string(meta), "cluster.id="+id+"\n") {
		t.Errorf("meta.properties does not carry the saved id %q:\n%s", id, meta)
	}
	// The broker answers (up already waited for a metadata answer; status checks it once more).
	if out, err := sh("status", "kafka"); err != nil || !strings.Contains(out, "running") {
		t.Errorf("services.sh status kafka: %v\n%s", err, out)
	}
}

func TestServicesKafkaRefusesBadPorts(t *testing.T) {
	script, err := filepath.Abs("local/services.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ port, ctrl, want string }{
		{"x9092", "25093", "is not a port number"},
		{"-9092", "25093", "is not a port number"},
		{"25092 25094", "25093", "is not a port number"},
		{"25092", "25092", "both 25092"},
	} {
		cmd := exec.Command("bash", script, "up", "kafka")
		cmd.Env = append(os.Environ(), "IOC_LOCAL_DIR="+t.TempDir(),
			"IOC_KAFKA_PORT="+tc.port, "IOC_KAFKA_CONTROLLER_PORT="+tc.ctrl)
		// Refused before anything is installed or started: the settings are checked first.
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("IOC_KAFKA_PORT=%q IOC_KAFKA_CONTROLLER_PORT=%q: err=%v, want a refusal with %q:\n%s",
				tc.port, tc.ctrl, err, tc.want, out)
		}
	}
}

// servicesSh runs deploy/local/services.sh with the environment plus env,
// and returns what it printed.
func servicesSh(t *testing.T, env ...string) func(args ...string) (string, error) {
	t.Helper()
	script, err := filepath.Abs("local/services.sh")
	if err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(), env...)
	return func(args ...string) (string, error) {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
}
