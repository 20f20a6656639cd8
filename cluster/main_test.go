// Package cluster checks that the pipeline on the cluster topology (three
// Kafka brokers, ClickHouse as 2 shards x 2 replicas, deploy/ioc-cluster.yaml)
// is as correct as on one node: the schema applied on the real servers,
// every reading visible once on any server, redeliveries on one shard, the
// KPI tiles equal to one node's.
//
// It runs against `IOC_TOPOLOGY=cluster deploy/local/services.sh up` and
// only when its env is loaded (IOC_CLICKHOUSE_CLUSTER is set):
//
//	eval "$(IOC_TOPOLOGY=cluster deploy/local/services.sh env)"
//	go test -count=1 ./cluster
//
// The node-loss suite under load is faults/ with IOC_CLUSTER_FAULTS (make cluster-test).
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// topo is the cluster under test, from the env services.sh prints.
type topo struct {
	brokers []string
	addrs   []string // every ClickHouse server, s1r1 s1r2 s2r1 s2r2
	cluster string
}

func need(t *testing.T) topo {
	t.Helper()
	tp := topo{cluster: os.Getenv("IOC_CLICKHOUSE_CLUSTER")}
	if tp.cluster == "" {
		t.Skip(`IOC_CLICKHOUSE_CLUSTER not set: run against the cluster topology (eval "$(IOC_TOPOLOGY=cluster deploy/local/services.sh env)")`)
	}
	tp.brokers = strings.Split(os.Getenv("IOC_KAFKA_BROKERS"), ",")
	tp.addrs = strings.Split(os.Getenv("IOC_CLICKHOUSE_ADDR"), ",")
	if len(tp.addrs) < 4 || len(tp.brokers) < 3 {
		t.Fatalf("IOC_CLICKHOUSE_ADDR has %d servers and IOC_KAFKA_BROKERS %d brokers: the cluster topology has 4 and 3", len(tp.addrs), len(tp.brokers))
	}
	return tp
}

func runID() string { return fmt.Sprintf("%d%04d", time.Now().Unix()%100000, rand.IntN(10000)) }

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// chConfig is the cluster configuration of a database (as deploy/ioc-cluster.yaml).
func (tp topo) chConfig(db string) chconn.Config {
	c := chconn.Config{Addr: tp.addrs, Database: db, Cluster: tp.cluster}
	c.Defaults()
	return c
}

func (tp topo) kafkaConfig(prefix string) kafkaconn.Config {
	k := kafkaconn.Config{Brokers: tp.brokers, TopicPrefix: prefix, Partitions: 6, ReplicationFactor: 3}
	k.Defaults()
	return k
}

// open connects to the given servers (all of them: failover; one: that server).
func open(t *testing.T, c chconn.Config) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// servers opens one connection per server, in the order of addrs.
func (tp topo) servers(t *testing.T, db string) []driver.Conn {
	t.Helper()
	var out []driver.Conn
	for _, a := range tp.addrs {
		c := chconn.Config{Addr: []string{a}, Database: db}
		c.Defaults()
		out = append(out, open(t, c))
	}
	return out
}

// dropOnCluster removes a test database (and its security database) from
// every server, with their ZooKeeper paths.
func (tp topo) dropOnCluster(t *testing.T, c chconn.Config) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		conn, err := c.Open(ctx)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		for _, db := range []string{c.Database, c.SecurityDatabase()} {
			if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+tp.cluster); err != nil {
				t.Logf("cleanup: dropping %s: %v", db, err)
			}
		}
	})
}

// dropTopics deletes the topics of a run.
func dropTopics(t *testing.T, kc kafkaconn.Config) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := kc.DeleteTopicsWithPrefix(ctx); err != nil {
			t.Logf("dropping the run's topics: %v", err)
		}
	})
}

// count runs a SELECT returning one number.
func count(ctx context.Context, conn driver.Conn, q string, args ...any) (uint64, error) {
	var n uint64
	err := conn.QueryRow(ctx, q, args...).Scan(&n)
	return n, err
}
