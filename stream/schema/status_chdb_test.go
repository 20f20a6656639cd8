package schema

import (
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/chtest"

	"github.com/sonla-ioc/ioc/internal/chconn"
)

// 131 (device_status_latest, its materialized view and backfill, the view
// device_status) as current releases get it, on chdb-core (ClickHouse 26.x
// in process; IOC_CHDB_PYTHON, see dedup_chdb_test.go): a change stored
// before the migration (backfilled) and changes after it (materialized
// view), the newest winning.
func TestDeviceStatusLatestOnCurrentEngine(t *testing.T) {
	py := chtest.ChdbPython(t, "131 on a current release")
	cfg := chconn.Config{}
	cfg.Defaults()
	migs, err := Render(cfg, Version{26, 9, 0})
	if err != nil {
		t.Fatal(err)
	}
	var before, after []string
	for _, m := range migs {
		switch m.Version {
		case 1, 10:
			before = append(before, m.Statements...)
		case 131:
			after = append(after, m.Statements...)
		}
	}
	out := chtest.RunChdb(t, py, chdbStatusScript, map[string]any{"before": before, "after": after})
	want := "device viettel w1 online 1700000100000\ndevice viettel w2 offline 1700000000000"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("device_status on ClickHouse 26.9:\n%s\nwant\n%s", got, want)
	}
}

const chdbStatusScript = `
import json, sys
from chdb import session
inp = json.load(sys.stdin)
s = session.Session(inp["dir"] + "/db")
s.query("CREATE DATABASE IF NOT EXISTS ioc")
ins = ("INSERT INTO ioc.device_status_events_raw (event_id, kind, device_id, partner, status, previous, cause, at, at_ms) "
       "VALUES ('{id}', 'device', '{d}', 'viettel', '{st}', 'x', 'silent', toDateTime({t}), {t}000)")
for st in inp["before"]:
    s.query(st)
s.query(ins.format(id="a", d="w1", st="offline", t=1700000000))
for st in inp["after"]:
    s.query(st)
s.query(ins.format(id="b", d="w1", st="online", t=1700000100))
s.query(ins.format(id="c", d="w2", st="offline", t=1700000000))
s.query(ins.format(id="c", d="w2", st="offline", t=1700000000))
print(str(s.query("SELECT kind, partner, device_id, status, since_ms FROM ioc.device_status ORDER BY device_id", "TabSeparated")).strip().replace("\t", " "))
`
