// Package scaleout shows, on the real local Kafka (6 partitions) and
// ClickHouse, that the pipeline grows by adding processes: three `ioc
// stream` processes of the built binary share one consumer group; one is
// SIGKILLed in the middle of the traffic and its partitions move to the
// other two with no reading lost and no duplicate visible in the analyst
// view; two `ioc dashboard` processes each serve their clients the same live
// data. Every run has its own topics, database and consumer group.
package scaleout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gorilla/websocket"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

var (
	iocBin  string
	run     string
	kc      kafkaconn.Config
	ch      chconn.Config
	conn    driver.Conn
	workDir string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	for _, k := range []string{"IOC_KAFKA_BROKERS", "IOC_CLICKHOUSE_ADDR"} {
		if os.Getenv(k) == "" {
			fmt.Fprintf(os.Stderr, "scaleout: %s is not set. These tests run against the real local services:\n"+
				"  run `make test` (it starts them), or `deploy/local/services.sh up && eval \"$(deploy/local/services.sh env)\"`\n", k)
			return 1
		}
	}
	var err error
	if workDir, err = os.MkdirTemp("", "ioc-scaleout-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	iocBin = filepath.Join(workDir, "ioc")
	build := exec.Command("go", "build", "-o", iocBin, "./cmd/ioc")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "scaleout: go build ./cmd/ioc: %v\n%s", err, out)
		return 1
	}
	run = fmt.Sprintf("%d%04d", time.Now().Unix()%100000, rand.IntN(10000))
	kc = kafkaconn.Config{Brokers: strings.Split(os.Getenv("IOC_KAFKA_BROKERS"), ","), TopicPrefix: "scale" + run + "."}
	kc.Defaults()
	ch = chconn.Config{Addr: strings.Split(os.Getenv("IOC_CLICKHOUSE_ADDR"), ","), Database: "ioc_scale_" + run}
	ch.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if conn, err = ch.Open(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		return 1
	}
	if err := kc.EnsureTopics(ctx, event.TopicReadings, event.TopicDeadLetter); err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		return 1
	}
	code := m.Run()
	if os.Getenv("IOC_TEST_KEEP") == "" {
		cctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		// TestMain has no testing.TB for chtest.DropOnCleanup: the same drops.
		_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS "+ch.Database)
		_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS "+ch.SecurityDatabase())
		_, _ = kc.DeleteTopicsWithPrefix(cctx) // every topic the roles created
	}
	conn.Close()
	return code
}

// proc is one ioc process of the built binary.
type proc struct {
	name string
	cmd  *exec.Cmd
	ops  string // http://127.0.0.1:port
	web  string // dashboard only
	done chan error
	log  *os.File
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs `ioc <role>` with a configuration of its own: this run's
// topics and database, its own Kafka client id (to recognise it in the
// consumer group) and random ports.
func start(t *testing.T, role, name string, extra string) *proc {
	t.Helper()
	ops := freePort(t)
	cfg := fmt.Sprintf(`log: {level: info}
kafka:
  brokers: [%q]
  topic_prefix: %q
  client_id: %q
clickhouse:
  addr: [%q]
  database: %q
stream:
  group_id: "scale-%s"
  max_age: 200ms
  migrate: false
  # The broker's minimum: a SIGKILLed member is noticed after 6 s.
  session_timeout: 6s
  rebalance_timeout: 6s
ops:
  listen: %q
%s`, kc.Brokers[0], kc.TopicPrefix, name, ch.Addr[0], ch.Database, run, ops, extra)
	path := filepath.Join(workDir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(workDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, ops: "http://" + ops, done: make(chan error, 1), log: logf}
	p.cmd = exec.Command(iocBin, role, "-config", path)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")} // no IOC_* from the shell
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- log of %s (last 3000 bytes):\n%s", name, tail(b, 3000))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (p *proc) get(path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(p.ops + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitReady(t *testing.T, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		testpoll.Eventually(t, 60*time.Second, p.name+" /readyz", func() (bool, string) {
			select {
			case err := <-p.done:
				p.done <- err
				t.Fatalf("%s exited during start-up: %v", p.name, err)
			default:
			}
			code, body := p.get("/readyz")
			return code == 200, fmt.Sprint(code, " ", body)
		})
	}
}

// metric reads one sample of a process's /metrics.
func (p *proc) metric(name string) float64 {
	_, body := p.get("/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// assignment returns, per client id, the partitions of the readings topic
// that the group gave it.
func assignment(ctx context.Context) (map[string][]int, string, error) {
	client := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Timeout: 5 * time.Second}
	res, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{"scale-" + run}})
	if err != nil {
		return nil, "", err
	}
	if len(res.Groups) != 1 {
		return nil, "", fmt.Errorf("%d groups", len(res.Groups))
	}
	g := res.Groups[0]
	out := map[string][]int{}
	for _, m := range g.Members {
		for _, tp := range m.MemberAssignments.Topics {
			if tp.Topic == kc.Topic(event.TopicReadings) {
				out[m.ClientID] = append(out[m.ClientID], tp.Partitions...)
			}
		}
		slices.Sort(out[m.ClientID])
	}
	return out, g.GroupState, nil
}

// waitAssigned waits until exactly these members hold every partition.
func waitAssigned(t *testing.T, members ...string) map[string][]int {
	t.Helper()
	var got map[string][]int
	testpoll.Eventually(t, 60*time.Second, fmt.Sprintf("partitions shared by %v", members), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a, state, err := assignment(ctx)
		if err != nil {
			return false, err.Error()
		}
		var all []int
		for _, m := range members {
			if len(a[m]) == 0 {
				return false, fmt.Sprintf("state %s, assignment %v", state, a)
			}
			all = append(all, a[m]...)
		}
		slices.Sort(all)
		got = a
		return state == "Stable" && len(a) == len(members) && slices.Equal(all, []int{0, 1, 2, 3, 4, 5}), fmt.Sprintf("state %s, assignment %v", state, a)
	})
	return got
}

// producer writes readings straight to the readings topic, keyed by device
// like ingest does, and remembers how many it wrote.
type producer struct {
	w     *kafka.Writer
	mu    sync.Mutex
	n     int
	base  int64
	devID string
}

func newProducer(devID string) *producer {
	return &producer{devID: devID, base: time.Now().Add(-time.Hour).UnixMilli(), w: kc.NewWriter(kafkaconn.WriterOptions{Topic: event.TopicReadings, BatchSize: 1000, MaxAttempts: 10})}
}

// send writes n new readings over 60 devices (so every partition gets some).
func (p *producer) send(t *testing.T, n int) {
	t.Helper()
	if err := p.trySend(n); err != nil {
		t.Fatal(err)
	}
}

func (p *producer) trySend(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	msgs := make([]kafka.Message, 0, n)
	for i := 0; i < n; i++ {
		k := p.n + i
		r := event.Reading{Partner: "viettel", DeviceID: fmt.Sprintf("%s-%02d", p.devID, k%60), Metric: "level", Kind: event.KindNumber,
			Value: float64(k), Unit: "m", ObservedMs: p.base + int64(k), ReceivedMs: time.Now().UnixMilli(), TimeFromSource: true}
		r.ID = event.ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
		b, err := event.MarshalReading(&r)
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Key: []byte(r.DeviceID), Value: b})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("producing: %w", err)
	}
	p.n += n
	return nil
}

func (p *producer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func query(t *testing.T, q string, args ...any) uint64 {
	t.Helper()
	var n uint64
	q = strings.ReplaceAll(q, "{db}", ch.Database)
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestStreamInstancesShareAndTakeOver(t *testing.T) {
	// The schema first, as the migrate Job / compose service does.
	if out, err := exec.Command(iocBin, "migrate", "-config", writeMigrateConfig(t)).CombinedOutput(); err != nil {
		t.Fatalf("ioc migrate: %v\n%s", err, out)
	}
	names := []string{"stream-a-" + run, "stream-b-" + run, "stream-c-" + run}
	var ps []*proc
	for _, n := range names {
		ps = append(ps, start(t, "stream", n, ""))
	}
	waitReady(t, ps...)
	before := waitAssigned(t, names...)
	t.Logf("3 instances: %v", before)

	// Every instance writes its share.
	prod := newProducer("scale-" + run)
	defer prod.w.Close()
	prod.send(t, 3000)
	testpoll.Eventually(t, 30*time.Second, "first 3000 readings in the view", func() (bool, string) {
		n := query(t, "SELECT count() FROM {db}.sensor_readings")
		return n == 3000, fmt.Sprintf("%d rows", n)
	})
	for _, p := range ps {
		if w := p.metric(`ioc_stream_rows_written_total{table="sensor_readings"}`); w == 0 {
			t.Errorf("%s wrote no rows although it holds partitions %v", p.name, before[p.name])
		}
	}

	// SIGKILL one in the middle of the traffic: what it fetched and did not
	// commit is replayed by the instance that takes its partitions over.
	victim := ps[1]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if sendErr = prod.trySend(100); sendErr != nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // the load's pace: 5000 readings/s
		}
	}()
	// The victim is killed in the middle of the traffic: once it has
	// written some of the new readings.
	written := victim.metric(`ioc_stream_rows_written_total{table="sensor_readings"}`)
	testpoll.Eventually(t, 30*time.Second, "the victim writing the new traffic", func() (bool, string) {
		w := victim.metric(`ioc_stream_rows_written_total{table="sensor_readings"}`)
		return w > written, fmt.Sprintf("%v rows written, %v before", w, written)
	})
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killedAt := time.Now()
	time.Sleep(time.Second) // traffic goes on for a second without the victim: scenario timing
	close(stop)
	wg.Wait()
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	total := prod.count()
	after := waitAssigned(t, names[0], names[2])
	t.Logf("after SIGKILL of %s (it held %v): %v, rebalanced in %s", victim.name, before[victim.name], after, time.Since(killedAt).Round(100*time.Millisecond))

	testpoll.Eventually(t, 60*time.Second, fmt.Sprintf("all %d readings in the view", total), func() (bool, string) {
		n := query(t, "SELECT count() FROM {db}.sensor_readings")
		return n == uint64(total), fmt.Sprintf("%d of %d rows", n, total)
	})
	// No loss: every reading produced is there; no duplicate visible: the
	// view has one row per reading whatever the raw table holds.
	if n := query(t, "SELECT uniqExact(event_id) FROM {db}.sensor_readings_raw"); n != uint64(total) {
		t.Errorf("%d distinct readings stored, %d produced", n, total)
	}
	if n := query(t, "SELECT count() FROM (SELECT event_id FROM {db}.sensor_readings GROUP BY event_id HAVING count() > 1)"); n != 0 {
		t.Errorf("%d readings appear more than once in the analyst view", n)
	}
	raw := query(t, "SELECT count() FROM {db}.sensor_readings_raw")
	t.Logf("produced %d, view %d, raw %d (replayed after the kill: %d)", total, total, raw, raw-uint64(total))
	if n := query(t, "SELECT uniqExact(kafka_partition) FROM {db}.sensor_readings_raw"); n != 6 {
		t.Errorf("rows came from %d partitions, want 6", n)
	}
	// The victim's partitions were written by the survivors after the kill.
	for _, part := range before[victim.name] {
		if n := query(t, "SELECT count() FROM {db}.sensor_readings_raw WHERE kafka_partition = ? AND inserted_at >= ?", int32(part), killedAt.Add(-time.Second).Truncate(time.Second)); n == 0 {
			t.Errorf("partition %d of the killed instance: nothing written after the kill", part)
		}
	}

	// The survivors stop cleanly on SIGTERM.
	for _, p := range []*proc{ps[0], ps[2]} {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				t.Errorf("%s after SIGTERM: %v", p.name, err)
			}
		case <-time.After(45 * time.Second):
			t.Errorf("%s did not stop within 45 s of SIGTERM", p.name)
		}
	}
}

func writeMigrateConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(workDir, "migrate.yaml")
	body := fmt.Sprintf("clickhouse:\n  addr: [%q]\n  database: %q\n", ch.Addr[0], ch.Database)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wallClient keeps the wall channel's state seen on one websocket
// (protocol v2, docs/websocket.md): key → value.
type wallClient struct {
	mu    sync.Mutex
	snap  bool
	state map[string]json.RawMessage
	err   error
}

func dial(t *testing.T, web string) *wallClient {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+web+"/ws?channels=wall", nil)
	if err != nil {
		t.Fatalf("dialing ws://%s/ws: %v", web, err)
	}
	t.Cleanup(func() { c.Close() })
	w := &wallClient{state: map[string]json.RawMessage{}}
	go func() {
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			var f struct {
				Type string                     `json:"type"`
				Ch   string                     `json:"ch"`
				Part int                        `json:"part"`
				Last bool                       `json:"last"`
				Set  map[string]json.RawMessage `json:"set"`
				Del  []string                   `json:"del"`
			}
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			if f.Type == "hello" {
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","ch":"wall"}`))
				continue
			}
			if f.Ch != "wall" {
				continue
			}
			w.mu.Lock()
			if f.Type == "snapshot" && f.Part == 0 {
				clear(w.state)
			}
			for _, k := range f.Del {
				delete(w.state, k)
			}
			for k, v := range f.Set {
				w.state[k] = v
			}
			w.snap = w.snap || f.Type == "snapshot" && f.Last
			w.mu.Unlock()
		}
	}()
	testpoll.Eventually(t, 10*time.Second, "snapshot from "+web, func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.snap, fmt.Sprint(w.err)
	})
	return w
}

// counts returns, for the unregistered devices whose id starts with prefix
// (u/<device> on the wall), how many readings the wall counted.
func (w *wallClient) counts(prefix string) map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int64{}
	for k, v := range w.state {
		id, ok := strings.CutPrefix(k, "u/")
		if !ok || !strings.HasPrefix(id, prefix) {
			continue
		}
		var u struct {
			N int64 `json:"n"`
		}
		if json.Unmarshal(v, &u) == nil {
			out[id] = u.N
		}
	}
	return out
}

func TestTwoDashboardsServeTheSameLiveData(t *testing.T) {
	var walls []*proc
	for _, n := range []string{"wall-a-" + run, "wall-b-" + run} {
		web := freePort(t)
		p := start(t, "dashboard", n, fmt.Sprintf("dashboard:\n  listen: %q\n  flush_interval: 50ms\n  auth: {dev_open: true}\n", web))
		p.web = web
		walls = append(walls, p)
	}
	waitReady(t, walls...)
	var clients []*wallClient
	for _, p := range walls {
		clients = append(clients, dial(t, p.web), dial(t, p.web)) // two clients per instance
	}
	prefix := "live-" + run
	prod := newProducer(prefix)
	defer prod.w.Close()
	prod.send(t, 120) // 60 devices, each updated twice
	// The devices are not registered: the wall lists each (u/<device>)
	// with the readings it counted, on every client of either instance.
	want := map[string]int64{}
	for k := 0; k < 60; k++ {
		want[fmt.Sprintf("%s-%02d", prefix, k)] = 2
	}
	for i, c := range clients {
		testpoll.Eventually(t, 20*time.Second, fmt.Sprintf("client %d of %s has both readings of all 60 devices", i%2, walls[i/2].name), func() (bool, string) {
			got := c.counts(prefix)
			diff := 0
			for k, v := range want {
				if got[k] != v {
					diff++
				}
			}
			return diff == 0 && len(got) == len(want), fmt.Sprintf("%d devices seen, %d differ", len(got), diff)
		})
	}
}
