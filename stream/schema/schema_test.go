package schema

import (
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/chconn"
)

// The same files render for the 18.16 test server and for current
// releases; newer types appear only where the server has them.
func TestRenderGatesOnServerVersion(t *testing.T) {
	cfg := chconn.Config{}
	cfg.Defaults()
	for _, tc := range []struct {
		server  Version
		want    []string
		wantNot []string
	}{
		{Version{18, 16, 1}, []string{"partner           String", "ENGINE = ReplacingMergeTree()", "ioc.sensor_readings_raw FINAL"}, []string{"LowCardinality", "ON CLUSTER"}},
		{Version{25, 3, 2}, []string{"partner           LowCardinality(String)"}, []string{"ON CLUSTER"}},
	} {
		migs, err := Render(cfg, tc.server)
		if err != nil {
			t.Fatal(err)
		}
		all := ""
		for _, m := range migs {
			all += strings.Join(m.Statements, "\n;\n")
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("server %s: schema lacks %q", tc.server, w)
			}
		}
		for _, w := range tc.wantNot {
			if strings.Contains(all, w) {
				t.Errorf("server %s: schema has %q", tc.server, w)
			}
		}
	}
}

func TestRenderClusterMode(t *testing.T) {
	cfg := chconn.Config{Cluster: "sonla"}
	cfg.Defaults()
	migs, err := Render(cfg, Version{25, 3, 0})
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Join(migs[0].Statements, "\n")
	for _, w := range []string{"ON CLUSTER sonla", "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ioc/sensor_readings_raw', '{replica}')"} {
		if !strings.Contains(first, w) {
			t.Errorf("cluster schema lacks %q", w)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := split("-- comment; not a statement\nCREATE A;\n\nCREATE B (x String DEFAULT 'a;b');\n")
	if len(got) != 2 || got[0] != "CREATE A" || got[1] != "CREATE B (x String DEFAULT 'a;b')" {
		t.Errorf("split = %q", got)
	}
}
