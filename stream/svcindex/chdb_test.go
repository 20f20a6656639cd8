package svcindex_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/chtest"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/stream/schema"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// The index SQL on a current release: with IOC_CHDB_PYTHON (a Python with
// chdb-core, ClickHouse 26.x in process; `make rbac-check` installs one)
// the schema up to 120 is applied, a few events are written, and every
// query of the engine runs and counts them. (Aliases that name a column of
// their own scope, accepted by 18.16, are cyclic for the new analyzer.)
func TestIndexSQLOnCurrentEngine(t *testing.T) {
	py := chtest.ChdbPython(t, "the index SQL on ClickHouse 26.x")
	ch := chconn.Config{}
	ch.Defaults()
	migs, err := schema.Render(ch, schema.Version{Major: 26, Minor: 9})
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, m := range migs {
		if m.Version == 30 || m.Version == 120 || m.Version == 140 {
			stmts = append(stmts, m.Statements...)
		}
	}
	if len(stmts) == 0 {
		t.Fatal("no statements for 030, 120 and 140")
	}
	stmts = append(stmts,
		"INSERT INTO ioc.org_unit_events_raw (event_id, unit_id, name, kind, one_stop_shop, digital_signature, status, at, at_ms, version, source, ingested_ms, kafka_partition, kafka_offset) "+
			"VALUES ('u1', 'ubnd-tp', 'UBND', 'city', 1, 1, 'active', toDateTime(1767200000), 1767200000000, 1, 's', 0, 0, 0)",
		"INSERT INTO ioc.procedure_events_raw (event_id, code, name, field, level, processing_days, status, at, at_ms, version, source, ingested_ms, kafka_partition, kafka_offset, decision_ms, basis_in_force_ms, posted_ms, posted_complete, full_online, fee_bearing, online_payment, paper_result, population_linked) "+
			"VALUES ('p1', 'P1', 'T', 'justice', 'city', 1, 'published', toDateTime(1767300000), 1767300000000, 1, 's', 0, 0, 0, 1767300000000, 1767400000000, 1767310000000, 1, 1, 1, 1, 0, 1)",
		"INSERT INTO ioc.dossier_events_raw (event_id, dossier_id, procedure_code, unit, channel, state, at, at_ms, received_at, received_ms, due_at, due_ms, version, source, ingested_ms, kafka_partition, kafka_offset, full_online, fee_vnd, paid_online, inputs, inputs_digitised, e_result, result_to_store, synced_national, applicant_rating) "+
			"VALUES ('d1', 'D1', 'P1', 'ubnd-tp', 'online', 'resolved', toDateTime(1767400000), 1767400000000, toDateTime(1767390000), 1767390000000, toDateTime(1767500000), 1767500000000, 1, 's', 0, 0, 0, 1, 10000, 1, 2, 2, 1, 1, 1, 'satisfied'), "+
			"('d2', 'D2', 'P1', 'ubnd-tp', 'in_person', 'resolved', toDateTime(1767600000), 1767600000000, toDateTime(1767390000), 1767390000000, toDateTime(1767500000), 1767500000000, 1, 's', 0, 0, 0, 0, 10000, 0, 2, 1, 0, -1, 0, 'dissatisfied')",
		"INSERT INTO ioc.feedback_events_raw (event_id, feedback_id, unit, state, at, at_ms, received_at, received_ms, due_at, due_ms, likes, dislikes, version, source, ingested_ms, kafka_partition, kafka_offset) "+
			"VALUES ('f1', 'F1', 'ubnd-tp', 'reacted', toDateTime(1767450000), 1767450000000, toDateTime(1767390000), 1767390000000, toDateTime(1767500000), 1767500000000, 1, 1, 1, 's', 0, 0, 0)")
	e, err := svcindex.New(svcindex.Config{}, ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := svcindex.MonthPeriod(2026, 1)
	prm := svcindex.Params{Start: p.Start.UnixMilli(), Cut: p.End.UnixMilli() - 1, Limit: 10}
	queries := map[string]string{}
	for _, f := range []string{"units.sql", "procedures.sql", "dossiers.sql", "feedback.sql"} {
		q, err := e.Render(f, prm)
		if err != nil {
			t.Fatal(err)
		}
		queries[f] = q
	}
	for _, r := range svcindex.Reasons {
		prm.Reason = r
		q, err := e.Render("costly.sql", prm)
		if err != nil {
			t.Fatal(err)
		}
		queries["costly "+r] = q
	}
	out := chtest.RunChdb(t, py, chdbIndexScript, map[string]any{"statements": stmts, "queries": queries})
	var res struct {
		Version string            `json:"version"`
		Results map[string]string `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v\n%s", err, string(out))
	}
	t.Logf("ClickHouse %s", res.Version)
	for name, got := range res.Results {
		if strings.HasPrefix(got, "ERROR") {
			t.Errorf("%s: %s", name, got)
		}
	}
	// D1 on time, D2 late; both received and resolved in January 2026.
	if d := res.Results["dossiers.sql"]; !strings.HasPrefix(d, "ubnd-tp P1 2 1 0 0 2 1 1 2 1 1 2 ") {
		t.Errorf("dossiers.sql on %s: %q", res.Version, d)
	}
	if p := res.Results["procedures.sql"]; !strings.HasPrefix(p, "P1 published 1767300000000 1767400000000 1767310000000 1 1 1 1 0 1 ") {
		t.Errorf("procedures.sql on %s: %q", res.Version, p)
	}
	if f := res.Results["feedback.sql"]; !strings.HasPrefix(f, "ubnd-tp 1 0 1 1 ") {
		t.Errorf("feedback.sql on %s: %q", res.Version, f)
	}
	if c := res.Results["costly late"]; !strings.HasPrefix(c, "D2 ubnd-tp P1 ") {
		t.Errorf("costly late on %s: %q", res.Version, c)
	}
}

const chdbIndexScript = `
import json, sys
from chdb import session
inp = json.load(sys.stdin)
s = session.Session(inp["dir"] + "/db")
s.query("CREATE DATABASE IF NOT EXISTS ioc")
# 030's views join subqueries without aliases, as 18.16 wrote them
s.query("SET joined_subquery_requires_alias = 0")
for st in inp["statements"]:
    s.query(st)
res = {}
for name, q in inp["queries"].items():
    try:
        res[name] = str(s.query(q, "TabSeparated")).strip().replace("\t", " ")
    except Exception as e:
        res[name] = "ERROR " + str(e)[:500]
print(json.dumps({"version": str(s.query("SELECT version()", "TabSeparated")).strip(), "results": res}))
`
