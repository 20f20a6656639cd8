// Package schema holds the ClickHouse schema as embedded .sql files and
// applies them idempotently (at stream start and by `ioc migrate`).
//
// Files are applied in name order. A file whose first line is
// "-- min_server: MAJOR.MINOR" is applied only on servers at least that new;
// this is how features of current releases (TTL, codecs, DateTime64) are
// switched on while the schema keeps working on ClickHouse 18.16.
//
// A statement preceded by a line "-- only_if: SELECT count() ..." runs only
// when that query answers more than zero: how a step that cannot be written
// idempotently (RENAME TABLE) is skipped when a migration interrupted after
// it is applied again.
package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

//go:embed sql/*.sql
var files embed.FS

//go:embed bootstrap.sql
var bootstrapFS embed.FS

// source is what Render reads; tests swap in other files.
var source fs.FS = files

// Version is a ClickHouse server version.
type Version struct{ Major, Minor, Patch uint64 }

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor uint64) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Migration is one rendered file.
type Migration struct {
	Version    int
	Name       string
	MinServer  Version
	Statements []string
	// Guards holds, per statement, the "-- only_if:" query that must
	// answer more than zero for it to run ("" = always runs).
	Guards []string
}

// params are what the .sql templates may use.
type params struct {
	DB        string
	OnCluster string
	// Cluster is the cluster name in cluster mode, empty on one node:
	// {{if .Cluster}} guards what exists only on a cluster.
	Cluster string
	// SecDB is the database of the security tables (accounts, kiosk
	// tokens, audit log), kept apart from DB so that read-only analysts,
	// who are allowed DB only, never reach them.
	SecDB  string
	server Version
}

// ServerAtLeast reports whether the server is at least major.minor:
// {{if .ServerAtLeast 23 3}} guards what only current releases have.
func (p params) ServerAtLeast(major, minor uint64) bool { return p.server.AtLeast(major, minor) }

// ReadTable is the table to read in views: the local table on one node,
// the Distributed table in cluster mode.
func (p params) ReadTable(name string) string {
	if p.Cluster != "" {
		return name + "_all"
	}
	return name
}

// Render renders every migration for a server version and configuration.
func Render(cfg chconn.Config, server Version) ([]Migration, error) {
	names, err := fs.Glob(source, "sql/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	p := params{DB: cfg.Database, SecDB: cfg.SecurityDatabase(), Cluster: cfg.Cluster, server: server}
	if cfg.Cluster != "" {
		p.OnCluster = "ON CLUSTER " + cfg.Cluster
	}
	funcs := template.FuncMap{
		// lc is the type of short repeated strings.
		"lc": func() string {
			if server.AtLeast(20, 1) {
				return "LowCardinality(String)"
			}
			return "String"
		},
		// engine gives the table engine, replicated in cluster mode.
		"engine": func(engine, table string) string {
			if cfg.Cluster == "" {
				return engine + "()"
			}
			return fmt.Sprintf("Replicated%s('/clickhouse/tables/{shard}/%s/%s', '{replica}')", engine, cfg.Database, table)
		},
		// distributed is the engine of table_all in cluster mode: every
		// shard's local table, rows placed by the sharding key.
		"distributed": func(table, shardingKey string) (string, error) {
			if cfg.Cluster == "" {
				return "", fmt.Errorf("distributed %s: only in cluster mode (guard it with {{if .Cluster}})", table)
			}
			return fmt.Sprintf("Distributed(%s, %s, %s, %s)", cfg.Cluster, cfg.Database, table, shardingKey), nil
		},
		// distributedIn is distributed for a table of another database.
		"distributedIn": func(db, table, shardingKey string) (string, error) {
			if cfg.Cluster == "" {
				return "", fmt.Errorf("distributedIn %s: only in cluster mode (guard it with {{if .Cluster}})", table)
			}
			return fmt.Sprintf("Distributed(%s, %s, %s, %s)", cfg.Cluster, db, table, shardingKey), nil
		},
	}
	seen := map[int]string{}
	var out []Migration
	for _, name := range names {
		body, err := fs.ReadFile(source, name)
		if err != nil {
			return nil, err
		}
		base := strings.TrimPrefix(name, "sql/")
		ver, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("schema file %s: name must start with a number", base)
		}
		if prev, dup := seen[ver]; dup {
			// schema_migrations records versions: the second file would never run.
			return nil, fmt.Errorf("schema files %s and %s share the number %d; renumber the newer one", prev, base, ver)
		}
		seen[ver] = base
		m := Migration{Version: ver, Name: base}
		if first, _, _ := strings.Cut(string(body), "\n"); strings.HasPrefix(first, "-- min_server:") {
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(first, "-- min_server:")), "%d.%d", &m.MinServer.Major, &m.MinServer.Minor); err != nil {
				return nil, fmt.Errorf("schema file %s: bad min_server line: %w", base, err)
			}
		}
		set, err := sqltmpl.Parse(source, nil, funcs, name)
		if err != nil {
			return nil, fmt.Errorf("schema file %s: %w", base, err)
		}
		text, err := set.Render(base, p)
		if err != nil {
			return nil, fmt.Errorf("schema file %s: %w", base, err)
		}
		m.Statements, m.Guards = splitGuarded(text)
		out = append(out, m)
	}
	return out, nil
}

// split cuts a file into statements at semicolons that end a line, after
// dropping comment lines.
func split(sql string) []string {
	stmts, _ := splitGuarded(sql)
	return stmts
}

const guardPrefix = "-- only_if:"

// splitGuarded is split that also returns, per statement, the query of an
// "-- only_if:" line found before it (since the previous statement).
func splitGuarded(sql string) (stmts, guards []string) {
	var b strings.Builder
	guard := ""
	flush := func() {
		for _, s := range strings.Split(b.String(), ";\n") {
			if s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";")); s != "" {
				stmts = append(stmts, s)
				guards = append(guards, guard)
				guard = ""
			}
		}
		b.Reset()
	}
	for _, line := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, guardPrefix) {
			flush() // the guard belongs to the statement after it
			guard = strings.TrimSpace(strings.TrimPrefix(t, guardPrefix))
			continue
		}
		if strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	flush()
	return stmts, guards
}

// ServerVersion asks the server for its version.
func ServerVersion(conn driver.Conn) (Version, error) {
	sv, err := conn.ServerVersion()
	if err != nil {
		return Version{}, fmt.Errorf("reading clickhouse server version: %w", err)
	}
	return Version{Major: sv.Version.Major, Minor: sv.Version.Minor, Patch: sv.Version.Patch}, nil
}

// Migrate applies every migration not yet recorded in schema_migrations.
// All statements are idempotent, so a migration interrupted half-way is
// simply applied again.
func Migrate(ctx context.Context, conn driver.Conn, cfg chconn.Config, log *slog.Logger) error {
	server, err := ServerVersion(conn)
	if err != nil {
		return err
	}
	migs, err := Render(cfg, server)
	if err != nil {
		return err
	}
	// Everything recorded already: no DDL at all. On a cluster every ON
	// CLUSTER statement waits for all servers, so a role starting while one
	// replica is down must not issue any when there is nothing to apply.
	if applied, err := appliedVersions(ctx, conn, cfg.Database); err == nil && allApplied(migs, applied, server) {
		return nil
	}
	onCluster, migrationsEngine := "", "TinyLog"
	if cfg.Cluster != "" {
		onCluster = " ON CLUSTER " + cfg.Cluster
		// One replicated table shared by every server of the cluster (one
		// ZooKeeper path, each server a replica): whichever server the
		// migration reaches next time knows what was applied.
		migrationsEngine = fmt.Sprintf("ReplicatedReplacingMergeTree('/clickhouse/tables/all/%s/schema_migrations', '{replica}') ORDER BY version", cfg.Database)
	}
	boot, err := sqltmpl.Parse(bootstrapFS, nil, nil, "bootstrap.sql")
	if err != nil {
		return err
	}
	text, err := boot.Render("bootstrap.sql", map[string]any{"DB": cfg.Database, "OnCluster": onCluster, "Engine": migrationsEngine})
	if err != nil {
		return err
	}
	for _, q := range split(text) {
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("creating the migrations table: %w", err)
		}
	}
	applied, err := appliedVersions(ctx, conn, cfg.Database)
	if err != nil {
		return err
	}
	for _, m := range migs {
		if applied[m.Version] {
			continue
		}
		if !server.AtLeast(m.MinServer.Major, m.MinServer.Minor) {
			log.Info("schema migration skipped: needs a newer clickhouse", "migration", m.Name, "needs", m.MinServer.String(), "server", server.String())
			continue
		}
		if err := apply(ctx, conn, m, log); err != nil {
			return err
		}
		if err := record(ctx, conn, cfg.Database, m, server); err != nil {
			return fmt.Errorf("recording schema %s: %w", m.Name, err)
		}
		log.Info("schema migration applied", "migration", m.Name, "statements", len(m.Statements), "server", server.String())
	}
	return nil
}

// apply runs a migration's statements in order, each whose condition holds.
func apply(ctx context.Context, conn driver.Conn, m Migration, log *slog.Logger) error {
	for i, stmt := range m.Statements {
		if i < len(m.Guards) && m.Guards[i] != "" {
			var n uint64
			if err := conn.QueryRow(ctx, m.Guards[i]).Scan(&n); err != nil {
				return fmt.Errorf("applying schema %s statement %d: its condition: %w\n%s", m.Name, i+1, err, m.Guards[i])
			}
			if n == 0 {
				log.Debug("schema statement skipped: its condition does not hold", "migration", m.Name, "statement", i+1)
				continue
			}
		}
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("applying schema %s statement %d: %w\n%s", m.Name, i+1, err, stmt)
		}
	}
	return nil
}

// appliedVersions reads schema_migrations.
func appliedVersions(ctx context.Context, conn driver.Conn, db string) (map[int]bool, error) {
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("reading applied migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading applied migrations: %w", err)
		}
		applied[int(v)] = true
	}
	return applied, rows.Err()
}

// allApplied reports whether every migration this server can take is recorded.
func allApplied(migs []Migration, applied map[int]bool, server Version) bool {
	for _, m := range migs {
		if !applied[m.Version] && server.AtLeast(m.MinServer.Major, m.MinServer.Minor) {
			return false
		}
	}
	return true
}

// record notes an applied migration (a batch insert: ClickHouse 18.16
// drops the connection on client-side bound INSERT ... VALUES).
func record(ctx context.Context, conn driver.Conn, db string, m Migration, server Version) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, server)")
	if err != nil {
		return err
	}
	defer b.Abort()
	if err := b.Append(uint32(m.Version), m.Name, server.String()); err != nil {
		return err
	}
	return b.Send()
}
