package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// localStack is a pipeline set up on the real local services for doctor:
// its own topics, database and a running wall.
type localStack struct {
	prefix, db, wall string
}

// setupStack needs the services `make test` starts; without them it skips
// (the failure cases below still run).
func setupStack(t *testing.T) localStack {
	t.Helper()
	for _, k := range []string{"IOC_MQTT_URL", "IOC_KAFKA_BROKERS", "IOC_CLICKHOUSE_ADDR"} {
		if os.Getenv(k) == "" {
			t.Skipf("%s not set: this test checks the real local services (make test, or eval \"$(deploy/local/services.sh env)\")", k)
		}
	}
	run := fmt.Sprintf("%d%04d", time.Now().Unix()%100000, rand.IntN(10000))
	st := localStack{prefix: "doctor" + run + ".", db: "ioc_doctor_" + run}
	kc := kafkaconn.Config{Brokers: strings.Split(os.Getenv("IOC_KAFKA_BROKERS"), ","), TopicPrefix: st.prefix}
	kc.Defaults()
	ch := chconn.Config{Addr: strings.Split(os.Getenv("IOC_CLICKHOUSE_ADDR"), ","), Database: st.db}
	ch.Defaults()
	chtest.DropOnCleanup(t, ch)
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	conn, err := ch.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cctx, c := context.WithTimeout(context.Background(), 20*time.Second)
		defer c()
		conn.Close()
		_, _ = kc.DeleteTopicsWithPrefix(cctx) // every topic the roles created
	})
	if err := schema.Migrate(ctx, conn, ch, log); err != nil {
		t.Fatal(err)
	}
	if err := kc.EnsureTopics(ctx, event.TopicReadings, event.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	da, err := dashboard.New(dashboard.Config{Listen: "127.0.0.1:0"}, kc, ch, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = da.Run(ctx) }()
	testpoll.Eventually(t, 30*time.Second, "dashboard listening", func() (bool, string) { return da.Addr() != nil, "no address" })
	st.wall = "http://" + da.Addr().String() + "/"
	t.Setenv("IOC_KAFKA_TOPIC_PREFIX", st.prefix)
	t.Setenv("IOC_CLICKHOUSE_DATABASE", st.db)
	return st
}

func runDoctor(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := doctor(append([]string{"-config", "../../deploy/ioc.yaml", "-timeout", "5s"}, args...), &out)
	return code, out.String()
}

// A healthy local stack: every check OK, exit 0.
func TestDoctorHealthyLocalStack(t *testing.T) {
	st := setupStack(t)
	code, out := runDoctor(t, "-dashboard", st.wall)
	t.Logf("ioc doctor:\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d on a healthy stack", code)
	}
	for _, c := range []string{"config", "mqtt", "kafka", "clickhouse", "dashboard", "notify"} {
		if !regexp.MustCompile(`(?m)^  OK    ` + c + ` `).MatchString(out) {
			t.Errorf("no OK line for %s", c)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Error("a FAIL line on a healthy stack")
	}
}

// One thing wrong at a time: that check fails with what to do, and the
// exit code is non-zero.
func TestDoctorNamesWhatIsWrong(t *testing.T) {
	st := setupStack(t)
	for name, tc := range map[string]struct {
		env   map[string]string
		args  []string
		check string
		want  []string
	}{
		"kafka on a wrong port": {env: map[string]string{"IOC_KAFKA_BROKERS": "127.0.0.1:1"}, check: "kafka",
			want: []string{"connection refused", "IOC_KAFKA_BROKERS (now 127.0.0.1:1)", "deploy/local/services.sh status"}},
		"clickhouse on a wrong port": {env: map[string]string{"IOC_CLICKHOUSE_ADDR": "127.0.0.1:1"}, check: "clickhouse",
			want: []string{"connection refused", "IOC_CLICKHOUSE_ADDR (now 127.0.0.1:1)", "usually 9000"}},
		"mqtt on a wrong port": {env: map[string]string{"IOC_MQTT_URL": "tcp://127.0.0.1:1"}, check: "mqtt",
			want: []string{"tcp://127.0.0.1:1", "IOC_MQTT_URL"}},
		"no wall": {args: []string{"-dashboard", "http://127.0.0.1:1/"}, check: "dashboard",
			want: []string{"connection refused", "-skip dashboard"}},
		"schema not migrated": {env: map[string]string{"IOC_CLICKHOUSE_DATABASE": st.db + "_none"}, check: "clickhouse",
			want: []string{"schema_migrations", "ioc migrate"}},
		"topics missing": {env: map[string]string{"IOC_KAFKA_TOPIC_PREFIX": st.prefix + "none."}, check: "kafka",
			want: []string{"do not exist", "start `ioc ingest` or `ioc stream` once"}},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := tc.args
			if args == nil {
				args = []string{"-dashboard", st.wall}
			}
			code, out := runDoctor(t, args...)
			if code == 0 {
				t.Errorf("exit 0 although %s", name)
			}
			m := regexp.MustCompile(`(?ms)^  FAIL  ` + tc.check + ` +(.*?)(?:^  [A-Z]|\z)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no FAIL line for %s:\n%s", tc.check, out)
			}
			if !strings.Contains(m[1], "Possible solutions:") {
				t.Errorf("FAIL %s without possible solutions:\n%s", tc.check, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(m[1], w) {
					t.Errorf("FAIL %s does not say %q:\n%s", tc.check, w, m[1])
				}
			}
			if n := strings.Count(out, "  FAIL  "); n != 1 {
				t.Errorf("%d checks failed, want only %s:\n%s", n, tc.check, out)
			}
		})
	}
}

// An invalid file stops at the config check; no service is needed for it.
func TestDoctorInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  brokerz: [x:1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := doctor([]string{"-config", path}, &out)
	if code != 1 || !strings.Contains(out.String(), "FAIL  config") || !strings.Contains(out.String(), "brokerz") ||
		!strings.Contains(out.String(), "ioc check-config") {
		t.Errorf("exit %d, output:\n%s", code, out.String())
	}
}

// A notification channel that cannot be reached fails the notify check
// with what to do; nothing is sent. No service is needed for it.
func TestDoctorNotifyChannelUnreachable(t *testing.T) {
	clearEnv(t)
	t.Setenv("IOC_TEST_DOCTOR_HOOK_SECRET", "doctor-secret-0123456789")
	path := filepath.Join(t.TempDir(), "notify.yaml")
	body := "notify:\n  channels:\n    oncall:\n      kind: webhook\n      url: http://127.0.0.1:1/ioc\n      secret_env: IOC_TEST_DOCTOR_HOOK_SECRET\n      timeout: 2s\n" +
		"    mail:\n      kind: email\n      from: ioc@sonla.gov.vn\n      to: [a@sonla.gov.vn]\n      smtp: {addr: \"127.0.0.1:1\", username: ioc, password_file: /nonexistent/smtp.password}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := doctor([]string{"-config", path, "-skip", "mqtt,kafka,clickhouse,dashboard"}, &out)
	if code != 1 || !strings.Contains(out.String(), "FAIL  notify") || !strings.Contains(out.String(), "/nonexistent/smtp.password") ||
		!strings.Contains(out.String(), "Possible solutions:") {
		t.Errorf("missing SMTP password file: exit %d, output:\n%s", code, out.String())
	}
	body = strings.Replace(body, "password_file: /nonexistent/smtp.password", "password_env: IOC_TEST_DOCTOR_HOOK_SECRET", 1)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code = doctor([]string{"-config", path, "-skip", "mqtt,kafka,clickhouse,dashboard"}, &out)
	if code != 1 || !strings.Contains(out.String(), "oncall: webhook http://127.0.0.1:1") || !strings.Contains(out.String(), "mail: smtp 127.0.0.1:1") ||
		!strings.Contains(out.String(), "connection refused") {
		t.Errorf("unreachable channels: exit %d, output:\n%s", code, out.String())
	}
}
