package schema

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

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

// Cluster mode: replicated local tables, a Distributed table over them for
// each, every statement ON CLUSTER, and views over the Distributed tables.
func TestRenderClusterMode(t *testing.T) {
	cfg := chconn.Config{Cluster: "sonla"}
	cfg.Defaults()
	migs, err := Render(cfg, Version{25, 3, 0})
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, m := range migs {
		stmts = append(stmts, m.Statements...)
	}
	if problems := checkClusterSchema(stmts, "sonla", "ioc"); len(problems) > 0 {
		t.Errorf("cluster schema:\n%s\n\nrendered:\n%s", strings.Join(problems, "\n"), strings.Join(stmts, "\n;\n"))
	}
	all := strings.Join(stmts, "\n")
	for _, w := range []string{
		"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ioc/sensor_readings_raw', '{replica}')",
		"CREATE TABLE IF NOT EXISTS ioc.sensor_readings_raw_all ON CLUSTER sonla\nAS ioc.sensor_readings_raw\nENGINE = Distributed(sonla, ioc, sensor_readings_raw, cityHash64(device_id))",
		"ENGINE = Distributed(sonla, ioc, dead_letters_raw, cityHash64(dl_id))",
		"FROM ioc.sensor_readings_raw_all FINAL",
		"FROM ioc.dead_letters_raw_all FINAL",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("cluster schema lacks %q", w)
		}
	}
	if cfg.Table("sensor_readings_raw") != "ioc.sensor_readings_raw_all" {
		t.Errorf("stream would insert into %s in cluster mode, want the Distributed table", cfg.Table("sensor_readings_raw"))
	}

	// The single-node schema has none of it.
	one := chconn.Config{}
	one.Defaults()
	for _, v := range []Version{{18, 16, 1}, {25, 3, 0}} {
		migs, err := Render(one, v)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range migs {
			for _, st := range m.Statements {
				if strings.Contains(st, "Distributed") || strings.Contains(st, "_all") || strings.Contains(st, "Replicated") {
					t.Errorf("single-node schema (server %s) has a cluster-only statement:\n%s", v, st)
				}
			}
		}
	}
	if one.Table("sensor_readings_raw") != "ioc.sensor_readings_raw" {
		t.Errorf("single node: stream inserts into %s", one.Table("sensor_readings_raw"))
	}
}

var (
	createRE = regexp.MustCompile(`(?s)^CREATE (TABLE|VIEW|DATABASE|MATERIALIZED VIEW) IF NOT EXISTS (\S+)`)
	distRE   = regexp.MustCompile(`ENGINE = Distributed\((\w+), (\w+), (\w+), ([^)]+\))\)`)
	fromRE   = regexp.MustCompile(`FROM (\w+)\.(\w+)`)
	// RENAME TABLE a.b TO a.c, a.d TO a.e [ON CLUSTER x]
	renameRE     = regexp.MustCompile(`(?s)^RENAME TABLE (.*?)(?: ON CLUSTER \w+)?$`)
	renamePairRE = regexp.MustCompile(`(\w+\.\w+) TO (\w+\.\w+)`)
	dropRE       = regexp.MustCompile(`^DROP TABLE (?:IF EXISTS )?(\w+\.\w+)`)
)

// checkClusterSchema lists what is wrong with a rendered cluster schema.
func checkClusterSchema(stmts []string, cluster, db string) []string {
	var problems []string
	created := map[string]string{} // db.table → engine kind
	for _, st := range stmts {
		m := createRE.FindStringSubmatch(st)
		if m == nil {
			if (strings.HasPrefix(st, "ALTER") || strings.HasPrefix(st, "RENAME") || strings.HasPrefix(st, "DROP")) &&
				!strings.Contains(st, "ON CLUSTER "+cluster) {
				problems = append(problems, "ALTER, RENAME or DROP without ON CLUSTER: "+firstLine(st))
			}
			// A rename moves what was created under the old name; a drop forgets it.
			if r := renameRE.FindStringSubmatch(st); r != nil {
				moved := map[string]string{}
				for _, pair := range renamePairRE.FindAllStringSubmatch(r[1], -1) {
					moved[pair[2]] = created[pair[1]]
					delete(created, pair[1])
				}
				for to, kind := range moved {
					created[to] = kind
				}
			}
			if d := dropRE.FindStringSubmatch(st); d != nil {
				delete(created, d[1])
			}
			continue
		}
		kind, name := m[1], m[2]
		if !strings.Contains(st, "ON CLUSTER "+cluster) {
			problems = append(problems, kind+" "+name+" without ON CLUSTER "+cluster)
		}
		switch {
		case kind == "DATABASE":
		case strings.HasSuffix(name, "_all"):
			d := distRE.FindStringSubmatch(st)
			local := strings.TrimSuffix(name, "_all")
			if d == nil {
				problems = append(problems, name+": not a Distributed table")
				break
			}
			if d[1] != cluster || d[2]+"."+d[3] != local || !strings.HasPrefix(d[4], "cityHash64(") {
				problems = append(problems, name+": Distributed("+d[1]+", "+d[2]+", "+d[3]+", "+d[4]+") does not shard "+local+" of cluster "+cluster+" by a hash")
			}
			if created[local] != "replicated" {
				problems = append(problems, name+": created before its replicated local table "+local)
			}
			created[name] = "distributed"
		case kind == "TABLE":
			if strings.Contains(st, "MergeTree") && !strings.Contains(st, "ENGINE = Replicated") {
				problems = append(problems, name+": MergeTree table not Replicated")
			}
			created[name] = "replicated"
		default: // views read Distributed tables only
			for _, f := range fromRE.FindAllStringSubmatch(st, -1) {
				if created[f[1]+"."+f[2]] != "distributed" {
					problems = append(problems, fmt.Sprintf("%s %s reads %s.%s, not a Distributed table created before it", kind, name, f[1], f[2]))
				}
			}
		}
	}
	for name, kind := range created {
		if kind == "replicated" && created[name+"_all"] != "distributed" {
			problems = append(problems, name+": no Distributed table "+name+"_all")
		}
	}
	sort.Strings(problems)
	return problems
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// The checker above catches each mistake it looks for.
func TestCheckClusterSchemaCanFail(t *testing.T) {
	good := []string{
		"CREATE DATABASE IF NOT EXISTS ioc ON CLUSTER c",
		"CREATE TABLE IF NOT EXISTS ioc.t ON CLUSTER c (x String) ENGINE = ReplicatedReplacingMergeTree('/p', '{replica}') ORDER BY x",
		"CREATE TABLE IF NOT EXISTS ioc.t_all ON CLUSTER c AS ioc.t ENGINE = Distributed(c, ioc, t, cityHash64(x))",
		"CREATE VIEW IF NOT EXISTS ioc.v ON CLUSTER c AS SELECT x FROM ioc.t_all FINAL",
	}
	if p := checkClusterSchema(good, "c", "ioc"); len(p) > 0 {
		t.Fatalf("good schema reported: %v", p)
	}
	for name, tc := range map[string]struct {
		i    int
		stmt string
		want string
	}{
		"no ON CLUSTER":     {1, strings.Replace(good[1], " ON CLUSTER c", "", 1), "without ON CLUSTER"},
		"not replicated":    {1, strings.Replace(good[1], "ReplicatedReplacingMergeTree('/p', '{replica}')", "ReplacingMergeTree()", 1), "not Replicated"},
		"no Distributed":    {2, "SELECT 1", "no Distributed table ioc.t_all"},
		"wrong shard table": {2, strings.Replace(good[2], "ioc, t,", "ioc, u,", 1), "does not shard"},
		"view reads local":  {3, strings.Replace(good[3], "t_all", "t", 1), "reads ioc.t, not a Distributed"},
	} {
		bad := append([]string(nil), good...)
		bad[tc.i] = tc.stmt
		p := strings.Join(checkClusterSchema(bad, "c", "ioc"), "\n")
		if !strings.Contains(p, tc.want) {
			t.Errorf("%s: problems %q, want one with %q", name, p, tc.want)
		}
	}
}

// Two files with one number: the second would never be applied.
func TestRenderRefusesDuplicateNumbers(t *testing.T) {
	defer func(s fs.FS) { source = s }(source)
	source = fstest.MapFS{
		"sql/001_a.sql": {Data: []byte("CREATE DATABASE IF NOT EXISTS {{.DB}};\n")},
		"sql/001_b.sql": {Data: []byte("CREATE DATABASE IF NOT EXISTS {{.DB}};\n")},
	}
	cfg := chconn.Config{}
	cfg.Defaults()
	if _, err := Render(cfg, Version{25, 3, 0}); err == nil || !strings.Contains(err.Error(), "share the number 1") {
		t.Errorf("Render with two files numbered 001: %v, want an error", err)
	}
}

// migrations.lock holds the SHA-256 of every shipped migration: an applied
// file must never change (a server that ran it would never run the new
// text), nor disappear; a new file must be added to the lock.
func TestMigrationsLocked(t *testing.T) {
	lock, err := readLock("migrations.lock")
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]string{}
	names, _ := fs.Glob(files, "sql/*.sql")
	for _, n := range names {
		b, _ := fs.ReadFile(files, n)
		current[strings.TrimPrefix(n, "sql/")] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	for _, p := range checkLock(lock, current) {
		t.Error(p)
	}
}

func readLock(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lock := map[string]string{}
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 2 || len(f[1]) != 64 {
			return nil, fmt.Errorf("%s line %d: want \"NNN_name.sql <sha256>\", got %q", path, i+1, l)
		}
		lock[f[0]] = f[1]
	}
	return lock, nil
}

func checkLock(lock, current map[string]string) []string {
	var problems []string
	for name, sum := range current {
		switch locked, ok := lock[name]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("sql/%s is new: once it is final, add this line to stream/schema/migrations.lock:\n%s %s", name, name, sum))
		case locked != sum:
			problems = append(problems, fmt.Sprintf("sql/%s changed after it shipped (sha256 %s, locked %s): servers that applied it will never run the new text. "+
				"Restore it (git checkout -- stream/schema/sql/%s) and put the change in a new numbered file", name, sum[:12], locked[:12], name))
		}
	}
	for name := range lock {
		if _, ok := current[name]; !ok {
			problems = append(problems, fmt.Sprintf("sql/%s is in migrations.lock but gone: a shipped migration is never deleted or renamed", name))
		}
	}
	sort.Strings(problems)
	return problems
}

func TestCheckLockCanFail(t *testing.T) {
	lock := map[string]string{"001_core.sql": strings.Repeat("a", 64)}
	for name, tc := range map[string]struct {
		current map[string]string
		want    string
	}{
		"edited":  {map[string]string{"001_core.sql": strings.Repeat("b", 64)}, "changed after it shipped"},
		"deleted": {map[string]string{}, "is in migrations.lock but gone"},
		"new":     {map[string]string{"001_core.sql": strings.Repeat("a", 64), "002_x.sql": strings.Repeat("c", 64)}, "002_x.sql " + strings.Repeat("c", 64)},
	} {
		p := strings.Join(checkLock(lock, tc.current), "\n")
		if !strings.Contains(p, tc.want) {
			t.Errorf("%s: %q, want a problem with %q", name, p, tc.want)
		}
	}
	if p := checkLock(lock, map[string]string{"001_core.sql": strings.Repeat("a", 64)}); len(p) != 0 {
		t.Errorf("unchanged files reported: %v", p)
	}
}

func TestSplitStatements(t *testing.T) {
	got := split("-- comment; not a statement\nCREATE A;\n\nCREATE B (x String DEFAULT 'a;b');\n")
	if len(got) != 2 || got[0] != "CREATE A" || got[1] != "CREATE B (x String DEFAULT 'a;b')" {
		t.Errorf("split = %q", got)
	}
}

func TestSplitGuardedStatements(t *testing.T) {
	stmts, guards := splitGuarded("CREATE A;\n-- only_if: SELECT count() FROM x\n-- a comment\nRENAME B;\nDROP C;\n")
	if strings.Join(stmts, "|") != "CREATE A|RENAME B|DROP C" || strings.Join(guards, "|") != "|SELECT count() FROM x|" {
		t.Errorf("splitGuarded = %q, %q", stmts, guards)
	}
}

// The least-privilege roles exist only where SQL access control does, and
// the pipeline keeps nothing of the security database there.
func TestLeastPrivilegeRolesGated(t *testing.T) {
	cfg := chconn.Config{}
	cfg.Defaults()
	for _, v := range []Version{{18, 16, 1}, {25, 3, 0}} {
		migs, err := Render(cfg, v)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range migs {
			if m.Version != 71 {
				continue
			}
			if m.MinServer != (Version{20, 5, 0}) {
				t.Errorf("071 is applied from %s, want 20.5 (SQL access control)", m.MinServer)
			}
			all := strings.Join(m.Statements, ";\n")
			for _, w := range []string{
				"REVOKE  ALL ON ioc_security.* FROM ioc_pipeline",
				"GRANT  SELECT ON ioc.* TO ioc_dashboard",
				"GRANT  SELECT, INSERT ON ioc_security.audit_log TO ioc_dashboard",
				"GRANT  INSERT ON ioc_security.audit_log TO ioc_ingest",
			} {
				if !strings.Contains(all, w) {
					t.Errorf("071 lacks %q:\n%s", w, all)
				}
			}
			for _, bad := range []string{"ALTER", "DELETE", "INSERT ON ioc.", "ON ioc_security.* TO"} {
				if strings.Contains(all, bad) {
					t.Errorf("071 grants %q:\n%s", bad, all)
				}
			}
		}
	}
}

// The notifier's role (091) exists from ClickHouse 20.5 (SQL access
// control) and may read and append notification_log only.
func TestNotifyRoleGated(t *testing.T) {
	for _, cluster := range []string{"", "ioc_cluster"} {
		cfg := chconn.Config{Cluster: cluster}
		cfg.Defaults()
		migs, err := Render(cfg, Version{25, 3, 0})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range migs {
			if m.Version != 91 {
				continue
			}
			found = true
			if m.MinServer != (Version{20, 5, 0}) {
				t.Errorf("091 is applied from %s, want 20.5 (SQL access control)", m.MinServer)
			}
			all := strings.Join(m.Statements, ";\n")
			grants := 0
			for _, s := range m.Statements {
				if strings.HasPrefix(s, "GRANT") {
					grants++
					if !(strings.Contains(s, "SELECT, INSERT ON ioc.notification_log") || strings.Contains(s, " SELECT ON ioc.alert_events_raw")) ||
						!strings.HasSuffix(s, "TO ioc_notify") {
						t.Errorf("091 grants more than notification_log and reading alert_events_raw: %s", s)
					}
				}
			}
			if want := map[string]int{"": 2, "ioc_cluster": 4}[cluster]; grants != want || !strings.Contains(all, "CREATE ROLE IF NOT EXISTS ioc_notify") {
				t.Errorf("cluster %q: %d grants, want %d:\n%s", cluster, grants, want, all)
			}
		}
		if !found {
			t.Fatal("no migration 091")
		}
	}
}
