package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var sqlWord = regexp.MustCompile(`\b(SELECT|INSERT INTO|CREATE (TABLE|DATABASE|VIEW)|ALTER TABLE)\b`)

// SQL lives in embedded .sql files rendered by internal/sqltmpl, not in Go
// strings: no string literal of the module's code (tests aside) spans
// several lines of SQL. One-line lookups stay in Go.
func TestNoMultiLineSQLInGo(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	checked := 0
	err := walkModule(root, func(path string, d fs.DirEntry) error {
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if ok && lit.Kind == token.STRING && strings.Contains(lit.Value, "\n") && sqlWord.MatchString(lit.Value) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s:%d: SQL over several lines in a Go string: put it in an embedded .sql file (internal/sqltmpl)",
					rel, fset.Position(lit.Pos()).Line)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files parsed: the walk misses the module", checked)
	}
}

var handPlaceholder = regexp.MustCompile(`(^|[^{]){[a-z_]+}([^}]|$)`)

// Every .sql file is a template of internal/sqltmpl ({{.Name}}, {{raw
// "table"}}): none uses the hand-replaced {name} placeholders of old,
// which a missing value would leave in the query.
func TestSQLFilesUseTheTemplateSyntax(t *testing.T) {
	root := moduleRoot(t)
	n := 0
	err := walkModule(root, func(path string, d fs.DirEntry) error {
		if !strings.HasSuffix(path, ".sql") {
			return nil
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			// {shard} and {replica} are ClickHouse's own macros (replicated
			// table paths), expanded by the server, not by us.
			bare := strings.NewReplacer("{shard}", "", "{replica}", "").Replace(line)
			if m := handPlaceholder.FindString(bare); m != "" && !strings.HasPrefix(strings.TrimSpace(line), "--") {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s:%d: %q: a hand-replaced placeholder; use {{.Name}} (internal/sqltmpl)", rel, i+1, strings.TrimSpace(m))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("only %d .sql files found", n)
	}
}
