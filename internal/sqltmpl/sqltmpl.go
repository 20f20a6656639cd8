// Package sqltmpl renders the embedded .sql files of every package: one
// text/template dialect ({{.Name}} for a value, {{raw "table"}} for a table
// name) where a missing key or an unknown function is an error, never an
// empty string in a query.
package sqltmpl

import (
	"bytes"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"text/template"
)

// Tables names tables for the {{raw}} and {{sec}} functions; a
// *chconn.Config is one.
type Tables interface {
	// Table is database.name (database.name_all in cluster mode).
	Table(name string) string
	// SecurityTable is the same in the security database.
	SecurityTable(name string) string
}

// Set is the parsed .sql files of one package, each a template named by its
// base name ("alerts.sql").
type Set struct {
	t *template.Template
}

// Parse parses the files of fsys matching the patterns. tables may be nil
// for files that name no table through {{raw}}/{{sec}}; extra adds
// functions of the package (the schema's {{engine}}).
//
// Every set has these functions:
//
//	raw "t"     the table t as tables.Table names it
//	sec "t"     tables.SecurityTable("t")
//	list xs     a []string as a quoted SQL list: 'a', 'b'
//	quote s     a string as a quoted SQL literal
func Parse(fsys fs.FS, tables Tables, extra template.FuncMap, patterns ...string) (*Set, error) {
	funcs := template.FuncMap{
		"raw": func(name string) (string, error) {
			if tables == nil {
				return "", fmt.Errorf("raw %q: this query set has no table names", name)
			}
			return tables.Table(name), nil
		},
		"sec": func(name string) (string, error) {
			if tables == nil {
				return "", fmt.Errorf("sec %q: this query set has no table names", name)
			}
			return tables.SecurityTable(name), nil
		},
		"list":  List,
		"quote": Quote,
	}
	for k, v := range extra {
		funcs[k] = v
	}
	t, err := template.New("").Funcs(funcs).Option("missingkey=error").ParseFS(fsys, patterns...)
	if err != nil {
		return nil, fmt.Errorf("parsing sql templates %v: %w", patterns, err)
	}
	return &Set{t: t}, nil
}

// MustParse is Parse for package-level sets of embedded files, whose
// errors are build mistakes.
func MustParse(fsys fs.FS, tables Tables, extra template.FuncMap, patterns ...string) *Set {
	s, err := Parse(fsys, tables, extra, patterns...)
	if err != nil {
		panic(err)
	}
	return s
}

// Render executes the file name with data (a struct or a map[string]any).
func (s *Set) Render(name string, data any) (string, error) {
	t := s.t.Lookup(name)
	if t == nil {
		return "", fmt.Errorf("rendering %s: no such sql file", name)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("rendering %s: %w", name, err)
	}
	return buf.String(), nil
}

// Has reports whether the set holds the file name.
func (s *Set) Has(name string) bool { return s.t.Lookup(name) != nil }

// Names lists the files of the set, sorted.
func (s *Set) Names() []string {
	var out []string
	for _, t := range s.t.Templates() {
		if t.Name() != "" {
			out = append(out, t.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Quote makes s a single-quoted ClickHouse string literal.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// List quotes every string of xs and joins them with ", " (for IN (...)).
func List(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = Quote(x)
	}
	return strings.Join(q, ", ")
}
