package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/chconn"
)

// The SQL access-control path (021, 071: min_server 20.5) cannot run on the
// local server (ClickHouse 18.16 has no CREATE ROLE or GRANT), and no newer
// ClickHouse server installs here (Debian ships 18.16; Docker and the
// vendor's site are out of reach). PyPI's chdb-core is the current engine
// (26.x) in process, as clickhouse-local: it parses every statement, and it
// evaluates GRANT and REVOKE as the grants of roles in a users.xml; it has
// no writable access storage (CREATE ROLE/USER answer 514
// ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND) and cannot switch user (EXECUTE
// AS needs access_control_improvements, which clickhouse-local does not
// read), so it cannot show a refusal as a role's user would meet it.
//
// With IOC_CHDB_PYTHON pointing at a Python that imports chdb
// (python3 -m venv v && v/bin/pip install chdb-core), this test parses
// every rendered statement of those migrations on that engine, single node
// and cluster, and checks each role's effective grants.
func TestRBACStatementsOnCurrentEngine(t *testing.T) {
	py := os.Getenv("IOC_CHDB_PYTHON")
	if py == "" {
		t.Skip("IOC_CHDB_PYTHON not set: a Python with chdb-core (ClickHouse 26.x in process) checks the RBAC SQL")
	}
	type input struct {
		Statements []string            `json:"statements"`
		Grants     map[string][]string `json:"grants"` // role → GRANT/REVOKE without "TO/FROM role"
		Dir        string              `json:"dir"`
	}
	for _, cluster := range []string{"", "sonla"} {
		cfg := chconn.Config{Cluster: cluster}
		cfg.Defaults()
		migs, err := Render(cfg, Version{26, 9, 0})
		if err != nil {
			t.Fatal(err)
		}
		in := input{Grants: map[string][]string{}, Dir: t.TempDir()}
		toRE := regexp.MustCompile(`^(GRANT|REVOKE)\s+(?:ON CLUSTER \w+\s+)?(.*?)\s+(?:TO|FROM)\s+(\w+)$`)
		for _, m := range migs {
			if !m.MinServer.AtLeast(20, 5) {
				continue
			}
			for _, st := range m.Statements {
				in.Statements = append(in.Statements, st)
				if g := toRE.FindStringSubmatch(st); g != nil {
					in.Grants[g[3]] = append(in.Grants[g[3]], g[1]+" "+g[2])
				}
			}
		}
		if len(in.Statements) < 5 {
			t.Fatalf("only %d RBAC statements rendered", len(in.Statements))
		}
		script := filepath.Join(in.Dir, "check.py")
		if err := os.WriteFile(script, []byte(chdbScript), 0o600); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(in)
		cmd := exec.Command(py, script)
		cmd.Stdin = bytes.NewReader(body)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("cluster %q: %v\n%s\n%s", cluster, err, out.String(), errb.String())
		}
		var res struct {
			Version string              `json:"version"`
			Errors  []string            `json:"errors"`
			Grants  map[string][]string `json:"grants"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		t.Logf("cluster %q: %d statements parsed by ClickHouse %s", cluster, len(in.Statements), res.Version)
		for _, e := range res.Errors {
			t.Error(e)
		}
		for role, want := range map[string][]string{
			"ioc_pipeline": {"GRANT SELECT, INSERT ON ioc.* TO ioc_pipeline"},
			"ioc_dashboard": {"GRANT SELECT ON ioc.* TO ioc_dashboard",
				"GRANT SELECT, INSERT ON ioc_security.audit_log TO ioc_dashboard",
				"GRANT SELECT, INSERT ON ioc_security.kiosk_tokens TO ioc_dashboard",
				"GRANT SELECT, INSERT ON ioc_security.users TO ioc_dashboard"},
			"ioc_ingest":  {"GRANT INSERT ON ioc_security.audit_log TO ioc_ingest"},
			"ioc_analyst": {"GRANT SELECT ON ioc.* TO ioc_analyst"},
			"ioc_auditor": {"GRANT SELECT ON ioc_security.audit_log TO ioc_auditor"},
		} {
			if cluster != "" && (role == "ioc_dashboard" || role == "ioc_ingest") {
				// plus the same on the Distributed *_all tables
				var w []string
				for _, g := range want {
					w = append(w, g)
					if strings.Contains(g, "ioc_security.") {
						w = append(w, regexp.MustCompile(`ioc_security\.(\w+)`).ReplaceAllString(g, "ioc_security.${1}_all"))
					}
				}
				want = w
			}
			got := res.Grants[role]
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("cluster %q: effective grants of %s on ClickHouse %s:\n%s\nwant:\n%s", cluster, role, res.Version,
					strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
}

// chdbScript reads the statements and grants as JSON on stdin, and prints
// the engine's version, every statement it cannot parse, and each role's
// effective grants (SHOW GRANTS) as JSON.
const chdbScript = `
import json, os, sys
from xml.sax.saxutils import escape
import chdb
inp = json.load(sys.stdin)
d = inp["dir"]
roles = "".join("<%s><grants>%s</grants></%s>" % (r, "".join("<query>%s</query>" % escape(q) for q in qs), r)
                for r, qs in inp["grants"].items())
open(os.path.join(d, "users.xml"), "w").write(
    "<clickhouse><profiles><default/></profiles><quotas><default/></quotas><roles>%s</roles>"
    "<users><default><password></password><access_management>1</access_management>"
    "<profile>default</profile><quota>default</quota></default></users></clickhouse>" % roles)
open(os.path.join(d, "config.xml"), "w").write(
    "<clickhouse><user_directories><users_xml><path>%s</path></users_xml></user_directories></clickhouse>"
    % os.path.join(d, "users.xml"))
conn = chdb.connect(":memory:?config-file=" + os.path.join(d, "config.xml"))
cur = conn.cursor()
def q(sql):
    cur.execute(sql)
    return cur.fetchall()
def lit(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
out = {"version": q("SELECT version()")[0][0], "errors": [], "grants": {}}
for st in inp["statements"]:
    try:
        q("SELECT formatQuery(%s)" % lit(st))
    except Exception as e:
        out["errors"].append("does not parse on ClickHouse %s: %s\n%s" % (out["version"], str(e).splitlines()[0][:300], st))
for r in inp["grants"]:
    try:
        out["grants"][r] = [row[0] for row in q("SHOW GRANTS FOR " + r)]
    except Exception as e:
        out["errors"].append("role %s: %s" % (r, str(e).splitlines()[0][:300]))
print(json.dumps(out))
`
