package faults

// The node-loss suite on the cluster topology: three Kafka brokers (RF 3,
// min.insync.replicas 2), ZooKeeper, ClickHouse as 2 shards x 2 replicas
// (`IOC_TOPOLOGY=cluster deploy/local/services.sh`), the real ioc binary
// configured as deploy/ioc-cluster.yaml, the same open-loop load and ledger
// as the single-node scenarios. It runs only with IOC_CLUSTER_FAULTS=quick|full
// (make cluster-test-quick, make cluster-test).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

var clusterServices = []string{"zookeeper", "clickhouse-s1r1", "clickhouse-s1r2", "clickhouse-s2r1", "clickhouse-s2r2",
	"kafka-1", "kafka-2", "kafka-3", "mosquitto"}

// clusterTiming: how long each node stays down.
type clusterTiming struct {
	brokerDown, replicaDown, shardDown, zkDown time.Duration
}

var clusterTimings = map[string]clusterTiming{
	"full":  {brokerDown: 30 * time.Second, replicaDown: 60 * time.Second, shardDown: 45 * time.Second, zkDown: 30 * time.Second},
	"quick": {brokerDown: 10 * time.Second, replicaDown: 15 * time.Second, shardDown: 12 * time.Second, zkDown: 10 * time.Second},
}

// setupCluster starts (or finds) the cluster topology under IOC_LOCAL_DIR
// (default .local/cluster), builds the binary and connects to every server.
func setupCluster(mode string) (*env, error) {
	e, err := newEnv("IOC_CLUSTER_FAULTS", mode, envInt("IOC_CLUSTER_FAULTS_RATE", 1000), "cluster")
	if err != nil {
		return nil, err
	}
	e.cluster = "ioc_cluster"
	if filepath.Clean(e.local) == filepath.Join(e.repo, ".local") {
		return nil, fmt.Errorf("IOC_LOCAL_DIR=%s is the single-node instance's folder; the cluster lives in e.g. .local/cluster", e.local)
	}
	e.svcEnv = []string{"IOC_TOPOLOGY=cluster", "IOC_LOCAL_DIR=" + e.local}
	fmt.Printf("faults: CLUSTER mode %s, %d readings/s over %d connections; services under %s\n", e.mode, e.rate, e.conns, e.local)
	if out, err := e.services("up"); err != nil {
		return nil, fmt.Errorf("starting the cluster: %v\n%s", err, out)
	}
	out, err := e.services("env")
	if err != nil {
		return nil, fmt.Errorf("services.sh env: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		switch k {
		case "IOC_MQTT_URL":
			e.mqttURL = v
		case "IOC_KAFKA_BROKERS":
			e.brokers = strings.Split(v, ",")
		case "IOC_CLICKHOUSE_ADDR":
			e.chAddrs = strings.Split(v, ",")
		case "IOC_CLICKHOUSE_CLUSTER":
			e.cluster = v
		}
	}
	if len(e.brokers) != 3 || len(e.chAddrs) != 4 || e.mqttURL == "" {
		return nil, fmt.Errorf("services.sh env printed %d brokers and %d ClickHouse servers; the cluster has 3 and 4:\n%s", len(e.brokers), len(e.chAddrs), out)
	}
	e.chAddr = e.chAddrs[0]
	if err := e.prepare(); err != nil {
		return nil, err
	}
	return e, nil
}

func needCluster(t *testing.T) *env {
	t.Helper()
	if suite == nil || suite.cluster == "" {
		t.Skip("the cluster node-loss suite runs only with IOC_CLUSTER_FAULTS=quick|full (make cluster-test-quick, make cluster-test)")
	}
	return suite
}

func (e *env) ctm() clusterTiming { return clusterTimings[e.mode] }

// leadingBroker is the service name of the broker that leads the most
// partitions of the run's readings topic.
func (r *run) leadingBroker() string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(r.e.brokers...), Timeout: 10 * time.Second}
	topic := r.prefix + event.TopicReadings
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) == 0 {
		r.t.Fatalf("reading the leaders of %s: %v", topic, err)
	}
	leads := map[int]int{}
	for _, p := range md.Topics[0].Partitions {
		leads[p.Leader.ID]++
	}
	best, n := 0, -1
	for id, c := range leads {
		if c > n || c == n && id < best {
			best, n = id, c
		}
	}
	r.logf("broker %d leads %d of %d partitions of %s", best, n, len(md.Topics[0].Partitions), topic)
	return fmt.Sprintf("kafka-%d", best) // node.id N is kafka-N (deploy/local/cluster.sh)
}

// inEveryServer checks, once the readings converged, that every server
// shows the same rows in the analyst view, and that the two replicas of
// each shard hold the same raw rows (the one that was down caught up).
func inEveryServer(r *run, res *result) {
	start := time.Now()
	var last string
	if !testpoll.Poll(r.e.tm.converge, time.Second, func() bool {
		var states []string
		ok := true
		shardRows := map[int][]uint64{}
		for i, a := range r.e.chAddrs {
			cc := chconn.Config{Addr: []string{a}}
			cc.Defaults()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			conn, err := cc.Open(ctx)
			if err != nil {
				cancel()
				ok = false
				states = append(states, fmt.Sprintf("%s: %v", a, err))
				continue
			}
			var view, ids, raw uint64
			err = conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+r.db+".sensor_readings").Scan(&view, &ids)
			if err == nil {
				err = conn.QueryRow(ctx, "SELECT count() FROM "+r.db+".sensor_readings_raw").Scan(&raw)
			}
			conn.Close()
			cancel()
			if err != nil {
				ok = false
				states = append(states, fmt.Sprintf("%s: %v", a, err))
				continue
			}
			shardRows[i/2] = append(shardRows[i/2], raw)
			states = append(states, fmt.Sprintf("%s: view %d rows / %d ids, raw %d", a, view, ids, raw))
			if int64(view) != res.Stored || view != ids {
				ok = false
			}
		}
		for _, rows := range shardRows {
			if len(rows) != 2 || rows[0] != rows[1] {
				ok = false
			}
		}
		last = strings.Join(states, "; ")
		return ok
	}) {
		r.errorf("servers disagree %s after convergence: %s", r.e.tm.converge, last)
		return
	}
	r.note("every server shows the %d readings once; both replicas of each shard hold the same rows (in step %.1f s after the readings converged)",
		res.Stored, time.Since(start).Seconds())
}

var clusterScenarios = []scenario{
	{name: "broker-kill", title: "the Kafka broker leading most readings partitions SIGKILLed, restarted", verify: inEveryServer,
		fault: func(r *run) {
			b := r.leadingBroker()
			in := r.get("ingest")
			r.faultBegins()
			r.svc("kill", b)
			killed := time.Now()
			acked0 := in.metric("ioc_ingest_mqtt_acked_total")
			// The broker stays down for brokerDown, and at least until
			// ingest has acknowledged messages without it (the partitions
			// it led get new leaders after broker.session.timeout.ms, and
			// the writers see them at their next metadata refresh), at
			// most 60 s.
			resumed := time.Duration(0)
			testpoll.Poll(max(r.e.ctm().brokerDown, time.Minute), 250*time.Millisecond, func() bool {
				if resumed == 0 && in.metric("ioc_ingest_mqtt_acked_total") > acked0 {
					resumed = time.Since(killed)
				}
				return resumed != 0 && time.Since(killed) >= r.e.ctm().brokerDown
			})
			if resumed == 0 {
				r.errorf("ingest acknowledged nothing in the 60 s %s was down: two brokers of three must take writes (min.insync.replicas 2)", b)
			} else {
				r.note("with %s down, ingest acknowledged into Kafka again %.1f s after the kill (%.0f messages while it was down)",
					b, resumed.Seconds(), in.metric("ioc_ingest_mqtt_acked_total")-acked0)
			}
			r.svc("up", b)
			r.recovered()
		}},
	{name: "replica-kill", title: "ClickHouse replica s1r1 SIGKILLed, restarted (it catches up)", verify: inEveryServer,
		fault: func(r *run) {
			st := r.get("stream")
			r.faultBegins()
			r.svc("kill", "clickhouse-s1r1")
			r.pause(min(3*time.Second, r.e.ctm().replicaDown/4))
			w0 := st.metric("ioc_stream_rows_written_total")
			r.pause(r.e.ctm().replicaDown - min(3*time.Second, r.e.ctm().replicaDown/4))
			if w1 := st.metric("ioc_stream_rows_written_total"); w1 <= w0 {
				r.errorf("stream wrote nothing while one replica of shard 1 was down: inserts must go to the healthy replica")
			} else {
				r.note("while s1r1 was down stream wrote %.0f rows (to s1r2 and shard 2)", w1-w0)
			}
			r.svc("up", "clickhouse-s1r1")
			r.recovered()
		}},
	{name: "shard-down", title: "a whole shard (s2r1 and s2r2) SIGKILLed for a while, restarted", verify: inEveryServer,
		fault: func(r *run) {
			st := r.get("stream")
			r.faultBegins()
			r.svc("kill", "clickhouse-s2r1", "clickhouse-s2r2")
			// The insert in flight at the kill gets its moment, then watch.
			r.pause(3 * time.Second)
			w0 := st.metric("ioc_stream_rows_written_total")
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			c0, err0 := r.committed(ctx)
			cancel()
			r.pause(r.e.ctm().shardDown - 3*time.Second)
			w1 := st.metric("ioc_stream_rows_written_total")
			ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
			c1, err1 := r.committed(ctx)
			cancel()
			backlog, berr := r.backlog()
			r.svc("up", "clickhouse-s2r1", "clickhouse-s2r2")
			r.recovered()
			switch {
			case w1 != w0:
				r.errorf("stream reported %.0f rows written while shard 2 was down (an insert over every shard cannot succeed)", w1-w0)
			case err0 != nil || err1 != nil:
				r.errorf("reading committed offsets during the outage: %v %v", err0, err1)
			case fmt.Sprint(c0) != fmt.Sprint(c1):
				r.errorf("the stream group committed offsets while shard 2 was down (%v -> %v): it acknowledged what was not written", c0, c1)
			case berr != nil || backlog <= 0:
				r.errorf("no backlog held in Kafka at the end of the outage (%d, %v): consumption did not wait", backlog, berr)
			default:
				r.note("while shard 2 was down: 0 rows written, no offset committed, %d readings waiting in Kafka", backlog)
			}
		}},
	{name: "zk-restart", title: "ZooKeeper SIGKILLed, restarted (replicated tables read-only meanwhile)", verify: inEveryServer,
		fault: func(r *run) {
			r.faultBegins()
			r.svc("kill", "zookeeper")
			r.pause(r.e.ctm().zkDown)
			r.svc("up", "zookeeper")
			r.recovered()
		}},
	{name: "stream-kill-broker-down", title: "stream SIGKILLed and restarted while a leading broker is down", verify: inEveryServer,
		fault: func(r *run) {
			b := r.leadingBroker()
			r.faultBegins()
			r.svc("kill", b)
			r.pause(2 * time.Second)
			r.get("stream").kill()
			r.logf("stream killed with %s down", b)
			start := time.Now()
			r.restart("stream", "stream")
			r.note("a new stream instance was ready %.1f s after the kill, with %s down", time.Since(start).Seconds(), b)
			r.pause(r.e.ctm().brokerDown)
			r.svc("up", b)
			r.recovered()
		}},
}

// The node-loss suite: after each node loss and its recovery, every
// acknowledged reading is in <db>.sensor_readings exactly once, on every
// server.
func TestClusterNodeLoss(t *testing.T) {
	e := needCluster(t)
	only := os.Getenv("IOC_FAULTS_ONLY")
	for _, sc := range clusterScenarios {
		if only != "" && !strings.Contains(","+only+",", ","+sc.name+",") {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			res := runScenario(t, e, sc)
			for _, msg := range res.Errors {
				t.Error(msg)
			}
		})
	}
}

func init() {
	// Keep the scenario names unique across both suites (IOC_FAULTS_ONLY).
	seen := map[string]bool{}
	for _, sc := range append(append([]scenario{}, scenarios...), clusterScenarios...) {
		if seen[sc.name] {
			panic("duplicate fault scenario name " + sc.name)
		}
		seen[sc.name] = true
	}
}
