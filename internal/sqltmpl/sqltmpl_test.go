package sqltmpl

import (
	"strings"
	"testing"
	"testing/fstest"
)

type tables struct{}

func (tables) Table(n string) string         { return "db." + n }
func (tables) SecurityTable(n string) string { return "db_security." + n }

var files = fstest.MapFS{
	"sql/q.sql":     {Data: []byte("SELECT * FROM {{raw \"t\"}} WHERE x IN ({{list .Xs}}) AND y >= {{.Y}}")},
	"sql/sec.sql":   {Data: []byte("SELECT * FROM {{sec \"users\"}} WHERE name = {{quote .Name}}")},
	"sql/plain.sql": {Data: []byte("SELECT 1")},
}

func TestRender(t *testing.T) {
	s, err := Parse(files, tables{}, nil, "sql/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data any
		want string
	}{
		{"q.sql", map[string]any{"Xs": []string{"a", "b'c"}, "Y": 3}, `SELECT * FROM db.t WHERE x IN ('a', 'b\'c') AND y >= 3`},
		{"q.sql", struct {
			Xs []string
			Y  int
		}{[]string{`a\`}, 1}, `SELECT * FROM db.t WHERE x IN ('a\\') AND y >= 1`},
		{"sec.sql", map[string]any{"Name": "o'b"}, `SELECT * FROM db_security.users WHERE name = 'o\'b'`},
		{"plain.sql", nil, "SELECT 1"},
	} {
		got, err := s.Render(c.name, c.data)
		if err != nil || got != c.want {
			t.Errorf("Render(%s, %v) = %q, %v; want %q", c.name, c.data, got, err, c.want)
		}
	}
	if got := strings.Join(s.Names(), " "); got != "plain.sql q.sql sec.sql" {
		t.Errorf("Names() = %q", got)
	}
}

// A missing value must fail the rendering, not leave "<no value>" or an
// empty string in the query.
func TestMissingKeyIsAnError(t *testing.T) {
	s, err := Parse(files, tables{}, nil, "sql/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if q, err := s.Render("q.sql", map[string]any{"Xs": []string{"a"}}); err == nil || !strings.Contains(err.Error(), "Y") {
		t.Errorf("map without Y rendered %q, err %v; want an error naming Y", q, err)
	}
	if q, err := s.Render("q.sql", struct{ Xs []string }{}); err == nil {
		t.Errorf("struct without Y rendered %q; want an error", q)
	}
	if _, err := s.Render("nope.sql", nil); err == nil {
		t.Error("an unknown file rendered without error")
	}
	noTables, err := Parse(files, nil, nil, "sql/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if q, err := noTables.Render("sec.sql", map[string]any{"Name": "x"}); err == nil {
		t.Errorf("sec without table names rendered %q; want an error", q)
	}
}

func TestUnknownFunctionIsAnError(t *testing.T) {
	bad := fstest.MapFS{"x.sql": {Data: []byte("SELECT {{nosuch 1}}")}}
	if _, err := Parse(bad, nil, nil, "*.sql"); err == nil {
		t.Error("a file calling an unknown function parsed")
	}
}
