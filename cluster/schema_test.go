package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// `ioc migrate` with the cluster configuration creates, on EVERY server,
// the replicated tables, their Distributed *_all tables and every view
// (administrative tables, KPI rollups, the security database), records
// the migrations where any server sees them, and a second run (through
// another server) changes nothing.
func TestMigrateAppliesTheClusterSchemaOnEveryServer(t *testing.T) {
	tp := need(t)
	ctx := context.Background()
	cfg := tp.chConfig("ioc_clmig_" + runID())
	tp.dropOnCluster(t, cfg)
	conn := open(t, cfg)
	if err := schema.Migrate(ctx, conn, cfg, quietLog()); err != nil {
		t.Fatalf("migrating on the cluster: %v", err)
	}
	server, err := schema.ServerVersion(conn)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := schema.Render(cfg, server)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, m := range migs {
		if server.AtLeast(m.MinServer.Major, m.MinServer.Minor) {
			want++
		}
	}

	type table struct{ db, name, engine string }
	var first []table
	for i, sc := range tp.servers(t, cfg.Database) {
		rows, err := sc.Query(ctx, "SELECT database, name, engine FROM system.tables WHERE database IN (?, ?) ORDER BY database, name",
			cfg.Database, cfg.SecurityDatabase())
		if err != nil {
			t.Fatal(err)
		}
		var got []table
		for rows.Next() {
			var tb table
			if err := rows.Scan(&tb.db, &tb.name, &tb.engine); err != nil {
				t.Fatal(err)
			}
			got = append(got, tb)
		}
		rows.Close()
		if i == 0 {
			first = got
			var raw, dist, views int
			for _, tb := range got {
				switch {
				case tb.engine == "Distributed":
					dist++
				case tb.name == "schema_migrations":
					// replicated to every server, no Distributed table
				case strings.HasPrefix(tb.engine, "Replicated"):
					raw++
				case tb.engine == "View":
					views++
				case tb.engine == "MaterializedView":
					// 131's device_status_latest_mv: it writes TO a
					// Distributed table over a replicated one and stores
					// nothing itself.
					views++
				default:
					t.Errorf("%s.%s has engine %s: on a cluster every table is Replicated*, Distributed, a View or a MaterializedView writing TO one", tb.db, tb.name, tb.engine)
				}
			}
			for _, name := range []string{"sensor_readings_raw", "sensor_readings_raw_all", "sensor_readings", "dead_letters",
				"dossiers", "kpi_dossiers_monthly", "kpi_documents_daily", "kpi_budget_monthly", "devices", "schema_migrations"} {
				if !slices.ContainsFunc(got, func(tb table) bool { return tb.db == cfg.Database && tb.name == name }) {
					t.Errorf("%s.%s missing on %s", cfg.Database, name, tp.addrs[i])
				}
			}
			for _, name := range []string{"users", "users_all", "kiosk_tokens_all", "audit_log_all"} {
				if !slices.ContainsFunc(got, func(tb table) bool { return tb.db == cfg.SecurityDatabase() && tb.name == name }) {
					t.Errorf("%s.%s missing on %s", cfg.SecurityDatabase(), name, tp.addrs[i])
				}
			}
			if dist == 0 || raw != dist || views == 0 {
				t.Errorf("%d replicated tables, %d Distributed, %d views: want one Distributed table per replicated one", raw, dist, views)
			}
			t.Logf("%s: %d replicated tables, %d Distributed tables, %d views", tp.addrs[i], raw, dist, views)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(first) {
			t.Errorf("%s has a different schema from %s:\n%v\n%v", tp.addrs[i], tp.addrs[0], got, first)
		}
	}

	// Every server knows every migration is applied, and every view answers.
	for i, sc := range tp.servers(t, cfg.Database) {
		testpoll.Eventually(t, 30*time.Second, "schema_migrations complete on "+tp.addrs[i], func() (bool, string) {
			n, err := count(ctx, sc, "SELECT uniqExact(version) FROM "+cfg.Database+".schema_migrations")
			return err == nil && int(n) == want, fmt.Sprintf("%d of %d versions (%v)", n, want, err)
		})
		for _, tb := range first {
			if tb.engine == "View" || tb.engine == "Distributed" {
				if _, err := count(ctx, sc, "SELECT count() FROM "+tb.db+"."+tb.name); err != nil {
					t.Errorf("SELECT count() FROM %s.%s on %s: %v", tb.db, tb.name, tp.addrs[i], err)
				}
			}
		}
	}

	// Again, through the last server alone: nothing to apply, nothing recorded twice.
	last := cfg
	last.Addr = []string{tp.addrs[len(tp.addrs)-1]}
	lconn := open(t, last)
	before, _ := count(ctx, lconn, "SELECT count() FROM "+cfg.Database+".schema_migrations")
	if err := schema.Migrate(ctx, lconn, last, quietLog()); err != nil {
		t.Fatalf("migrating again through %s: %v", last.Addr[0], err)
	}
	after, _ := count(ctx, lconn, "SELECT count() FROM "+cfg.Database+".schema_migrations")
	if before != after || int(after) != want {
		t.Errorf("schema_migrations has %d rows before and %d after a second migration, want %d", before, after, want)
	}
}
