package schema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/chtest"

	"github.com/sonla-ioc/ioc/internal/chconn"
)

// The analyst view as current releases get it (081: FINAL with
// do_not_merge_across_partitions_select_final in the grouped half) cannot
// run on the local 18.16. With IOC_CHDB_PYTHON (see rbac_test.go; `make
// rbac-check` installs it) this test runs the single-node schema on PyPI's
// chdb-core (ClickHouse 26.x in process): redeliveries before and after a
// merge, a replay into an old month, and a WHERE on the view, each counted
// once.
func TestAnalystViewOnCurrentEngine(t *testing.T) {
	py := chtest.ChdbPython(t, "the analyst view of current releases")
	cfg := chconn.Config{}
	cfg.Defaults()
	migs, err := Render(cfg, Version{26, 9, 0})
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, m := range migs {
		if m.Version == 1 || m.Version == 80 || m.Version == 81 || m.Version == 130 {
			stmts = append(stmts, m.Statements...)
		}
	}
	if !strings.Contains(strings.Join(stmts, "\n"), "do_not_merge_across_partitions_select_final") {
		t.Fatal("081 rendered for 26.9 does not use FINAL with do_not_merge_across_partitions_select_final")
	}
	// Lowerer.Stored's two queries (batch_keys is an external table there).
	stored, err := dedupQueries.Render("stored_keys.sql", map[string]any{"DB": "ioc", "FromSec": 1780297200, "ToSec": 1780297202})
	if err != nil {
		t.Fatal(err)
	}
	wm, err := dedupQueries.Render("watermark.sql", map[string]any{"DB": "ioc"})
	if err != nil {
		t.Fatal(err)
	}
	// Dedup's list of parts (bound parameters written in: chdb's session
	// takes none).
	parts, err := dedupQueries.Render("partition_states.sql", map[string]any{"UpTo": uint64(1 << 62)})
	if err != nil {
		t.Fatal(err)
	}
	parts = strings.Replace(strings.Replace(parts, "?", "'ioc'", 1), "?", "'sensor_readings_raw'", 1)
	out := chtest.RunChdb(t, py, chdbViewScript, map[string]any{"statements": stmts, "stored": stored, "watermark": wm, "parts": parts})
	var res struct {
		Version string            `json:"version"`
		Counts  map[string]string `json:"counts"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v\n%s", err, string(out))
	}
	t.Logf("ClickHouse %s: %v", res.Version, res.Counts)
	for stage, want := range map[string]string{
		"before the merge":            "10 10 5",
		"after the merge":             "10 10 5",
		"new readings and redelivery": "15 15 5",
		"a replay into the old month": "15 15 5",
		"after the second merge":      "15 15 5",
		"where":                       "7",
		"stored keys":                 "p d pm25 1780297200000",
		"watermark":                   "1780297200000",
		"parts":                       "2 partitions, one part each",
	} {
		if got := res.Counts[stage]; got != want {
			t.Errorf("%s: the view shows %q (rows, event ids, old month), want %q", stage, got, want)
		}
	}
}

// chdbViewScript applies the statements in a chdb session and prints what
// the view shows at each stage as JSON.
const chdbViewScript = `
import json, sys
from chdb import session
inp = json.load(sys.stdin)
s = session.Session(inp["dir"] + "/db")
s.query("CREATE DATABASE IF NOT EXISTS ioc")
for st in inp["statements"]:
    s.query(st)
def q(sql):
    return str(s.query(sql, "TabSeparated")).strip().replace("\t", " ")
ins = ("INSERT INTO ioc.sensor_readings_raw (event_id, partner, device_id, metric, value_kind, value, observed_at, observed_ms) "
       "SELECT toString(number), 'p', 'd', 'pm25', 'number', number, toDateTime(t + number), (t + number) * 1000 "
       "FROM (SELECT number, if(number < 5, 1780297200, 1796094000) AS t FROM numbers({a}, {n}))")
count = "SELECT count(), uniqExact(event_id), countIf(toYYYYMM(observed_at) = 202606) FROM ioc.sensor_readings"
counts = {}
s.query(ins.format(a=0, n=10))
s.query(ins.format(a=0, n=3))
s.query(ins.format(a=6, n=2))
counts["before the merge"] = q(count)
s.query("OPTIMIZE TABLE ioc.sensor_readings_raw PARTITION 202606 FINAL")
s.query("OPTIMIZE TABLE ioc.sensor_readings_raw PARTITION 202612 FINAL")
wm = "INSERT INTO ioc.analyst_watermark (grouped_from, source, run) VALUES (toDateTime({t}), '{s}', 'r')"
s.query(wm.format(t=4294967295, s="dedup"))
counts["after the merge"] = q(count)
s.query(wm.format(t=1796094000, s="writer"))
s.query(ins.format(a=5, n=10))
counts["new readings and redelivery"] = q(count)
s.query(wm.format(t=1780297200, s="writer"))
s.query(ins.format(a=1, n=3))
counts["a replay into the old month"] = q(count)
counts["where"] = q("SELECT count() FROM ioc.sensor_readings WHERE observed_at >= toDateTime(1796094000 + 8)")
s.query("OPTIMIZE TABLE ioc.sensor_readings_raw PARTITION 202606 FINAL")
s.query("OPTIMIZE TABLE ioc.sensor_readings_raw PARTITION 202612 FINAL")
counts["after the second merge"] = q(count)
s.query("CREATE TABLE batch_keys (partner String, device_id String, metric String, observed_ms Int64) ENGINE = Memory")
s.query("INSERT INTO batch_keys VALUES ('p', 'd', 'pm25', 1780297200000), ('p', 'd', 'pm25', 1780297200500), ('p', 'd', 'pm10', 1780297201000)")
counts["stored keys"] = q(inp["stored"])
counts["watermark"] = q(inp["watermark"])
rows = [r.split(" ") for r in q(inp["parts"]).splitlines()]
ok = len(rows) == 2 and all(len(r) == 6 for r in rows) and [r[0] for r in rows] == ["202606", "202612"]
counts["parts"] = "2 partitions, one part each" if ok else repr(rows)
print(json.dumps({"version": q("SELECT version()"), "counts": counts}))
`
