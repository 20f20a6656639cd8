package schema

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chtest"
)

const appendOnlyMigration = 70 // sql/070_audit_log_append_only.sql

// before swaps the schema files for those numbered below n.
func before(t *testing.T, n int) {
	t.Helper()
	old := source
	t.Cleanup(func() { source = old })
	m := fstest.MapFS{}
	names, _ := fs.Glob(files, "sql/*.sql")
	for _, name := range names {
		var v int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, "sql/"), "%d", &v); err != nil {
			t.Fatalf("migration %s: no leading number: %v", name, err)
		}
		if v < n {
			b, _ := fs.ReadFile(files, name)
			m[name] = &fstest.MapFile{Data: b}
		}
	}
	source = m
}

func auditRow(t *testing.T, ctx context.Context, conn driver.Conn, table, id string, atMs int64, actor string) {
	t.Helper()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (event_id, at, at_ms, actor, action, outcome)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(id, time.UnixMilli(atMs), atMs, actor, "auth.login", "ok"); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func actors(t *testing.T, ctx context.Context, conn driver.Conn, table string) string {
	t.Helper()
	var got string
	if err := conn.QueryRow(ctx, "SELECT arrayStringConcat(groupArray(actor), ',') FROM (SELECT actor FROM "+table+" ORDER BY actor)").Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

func engineOf(t *testing.T, ctx context.Context, conn driver.Conn, db, table string) string {
	t.Helper()
	var e string
	if err := conn.QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = ?", db, table).Scan(&e); err != nil {
		t.Fatalf("engine of %s.%s: %v", db, table, err)
	}
	return e
}

// The audit log of a server migrated before 070 (a ReplacingMergeTree, with
// rows in it) becomes a plain MergeTree under the same name, keeps every
// row, and from then on keeps two rows with the same key through OPTIMIZE
// FINAL. A migration interrupted after its RENAME completes when applied
// again.
func TestAuditLogBecomesAppendOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, interrupted := range []bool{false, true} {
		t.Run(fmt.Sprintf("interrupted=%v", interrupted), func(t *testing.T) {
			ch := chtest.Scratch(t, "ioc_auditmig")
			ctx := context.Background()
			conn, err := ch.Open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			// A server as every release before 070 left it.
			before(t, appendOnlyMigration)
			if err := Migrate(ctx, conn, ch, log); err != nil {
				t.Fatal(err)
			}
			sec, table := ch.SecurityDatabase(), ch.SecurityTable("audit_log")
			if e := engineOf(t, ctx, conn, sec, "audit_log"); e != "ReplacingMergeTree" {
				t.Fatalf("before 070 the audit log is %s, want ReplacingMergeTree (the test's premise)", e)
			}
			auditRow(t, ctx, conn, table, "e1", 1764000000000, "an")
			auditRow(t, ctx, conn, table, "e2", 1764000001000, "binh")

			source = files
			migs, err := Render(ch, Version{18, 16, 1})
			if err != nil {
				t.Fatal(err)
			}
			if interrupted {
				// The server stopped right after the RENAME: the new table is
				// in place, the old rows not yet copied, nothing recorded.
				for _, m := range migs {
					if m.Version == appendOnlyMigration {
						m.Statements, m.Guards = m.Statements[:2], m.Guards[:2]
						if err := apply(ctx, conn, m, log); err != nil {
							t.Fatal(err)
						}
					}
				}
				auditRow(t, ctx, conn, table, "e3", 1764000002000, "chi") // a writer meanwhile
			}
			if err := Migrate(ctx, conn, ch, log); err != nil {
				t.Fatal(err)
			}
			if e := engineOf(t, ctx, conn, sec, "audit_log"); e != "MergeTree" {
				t.Errorf("after the migration the audit log is %s, want MergeTree", e)
			}
			want := "an,binh"
			if interrupted {
				want = "an,binh,chi"
			}
			if got := actors(t, ctx, conn, table); got != want {
				t.Errorf("audit rows after the migration: %s, want %s", got, want)
			}
			var left uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name != 'audit_log' AND name LIKE 'audit_log%'", sec).Scan(&left); err != nil || left != 0 {
				t.Errorf("%d temporary audit tables left behind (%v)", left, err)
			}
			// Applied again (every statement, as after a crash before it was
			// recorded): nothing changes.
			for _, m := range migs {
				if m.Version == appendOnlyMigration {
					if err := apply(ctx, conn, m, log); err != nil {
						t.Fatalf("070 applied a second time: %v", err)
					}
				}
			}
			if got := actors(t, ctx, conn, table); got != want {
				t.Errorf("audit rows after applying 070 again: %s, want %s", got, want)
			}

			// No rewrite by key: a second row with e1's key stays beside it.
			auditRow(t, ctx, conn, table, "e1", 1764000000000, "forger")
			if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
				t.Fatal(err)
			}
			if got := actors(t, ctx, conn, table+" WHERE event_id = 'e1'"); got != "an,forger" {
				t.Errorf("rows with the key of e1 after OPTIMIZE FINAL: %q, want both an and forger", got)
			}
		})
	}
}
