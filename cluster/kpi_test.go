package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/kpi"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// The H1-2021 scenario through the feed consumer into the cluster gives
// the same KPI tiles as the same scenario into one node (a plain database
// on one server, no cluster), value for value, series and breakdowns
// included; and they are the report's figures.
func TestKPITilesOnTheClusterEqualOneNode(t *testing.T) {
	tp := need(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := runID()
	sc := simulate.H12021()

	type pipeline struct {
		name string
		ch   chconn.Config
		kc   kafkaconn.Config
		svc  *feeds.Service
	}
	single := chconn.Config{Addr: tp.addrs[:1], Database: "ioc_clkpi1_" + id}
	single.Defaults()
	pipes := []*pipeline{
		{name: "cluster", ch: tp.chConfig("ioc_clkpic_" + id), kc: tp.kafkaConfig("clkpic" + id + ".")},
		{name: "one node", ch: single, kc: tp.kafkaConfig("clkpi1" + id + ".")},
	}
	tp.dropOnCluster(t, pipes[0].ch)
	t.Cleanup(func() {
		cctx, c := context.WithTimeout(context.Background(), time.Minute)
		defer c()
		if conn, err := single.Open(cctx); err == nil {
			_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS "+single.Database)
			_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS "+single.SecurityDatabase())
			conn.Close()
		}
	})
	done := make(chan error, len(pipes))
	for i, p := range pipes {
		dropTopics(t, p.kc)
		conn := open(t, p.ch)
		if err := schema.Migrate(ctx, conn, p.ch, quietLog()); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		var err error
		p.svc, err = feeds.New(feeds.Config{GroupID: fmt.Sprintf("clkpi-%d-%s", i, id), MaxAge: 200 * time.Millisecond,
			KPI: kpi.Config{Settle: 2 * time.Second, Interval: 5 * time.Second}}, p.kc, p.ch, quietLog(), nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- p.svc.Run(ctx) }()
		if err := simulate.RunScenario(ctx, simulate.ScenarioOptions{Name: "h1-2021", Shuffle: true, Seed: 7}, p.kc, quietLog()); err != nil {
			t.Fatalf("%s: publishing the scenario: %v", p.name, err)
		}
	}
	t.Cleanup(func() {
		cancel()
		for range pipes {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("a feeds service did not stop within 30s")
			}
		}
	})

	tiles := func(p *pipeline) (string, map[string]float64, error) {
		conn, err := p.ch.Open(ctx)
		if err != nil {
			return "", nil, err
		}
		defer conn.Close()
		ts, err := p.svc.Engine().Compute(ctx, conn, sc.AsOf)
		if err != nil {
			return "", nil, err
		}
		nums := map[string]float64{}
		var parts []string
		for _, tl := range ts {
			tl.ComputedMs = 0
			b, _ := json.Marshal(tl)
			parts = append(parts, string(b))
			nums[tl.ID] = tl.Numerator
		}
		return strings.Join(parts, "\n"), nums, nil
	}
	// The report's figures (e2e/kpi_test.go): the scenario is complete in
	// both once they show, and then the two must agree on every tile.
	report := map[string]float64{"reform_plan.done": 36, "procedures.published": 186, "documents.signed": 4704,
		"one_stop.excellent": 13, "signing.communes": 12, "budget.vs_province": 194_700_000_000}
	var clusterTiles, singleTiles string
	testpoll.Eventually(t, 3*time.Minute, "the cluster's tiles equal one node's, with the report's figures", func() (bool, string) {
		var cn, sn map[string]float64
		var err error
		if clusterTiles, cn, err = tiles(pipes[0]); err != nil {
			return false, "cluster: " + err.Error()
		}
		if singleTiles, sn, err = tiles(pipes[1]); err != nil {
			return false, "one node: " + err.Error()
		}
		for k, v := range report {
			if cn[k] != v || sn[k] != v {
				return false, fmt.Sprintf("%s: cluster %v, one node %v, report %v", k, cn[k], sn[k], v)
			}
		}
		return clusterTiles == singleTiles, "tiles differ:\ncluster:\n" + clusterTiles + "\none node:\n" + singleTiles
	})
	t.Logf("%d tiles equal on the cluster and on one node as of %s", strings.Count(clusterTiles, "\n")+1, sc.AsOf.In(event.Location).Format(time.RFC3339))
}
