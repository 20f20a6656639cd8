// Package layout holds tests of the module's package layout.
package layout

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sonla-ioc/ioc"

// No package imports a package of a directory above it (stream/feeds
// importing stream, say): a sub-package is a part of its stage, and what
// two parts share belongs in internal/. Test files are not checked.
func TestNoPackageImportsItsParent(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	checked := 0
	err := walkModule(root, func(path string, d fs.DirEntry) error {
		name := d.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := module
		if rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != pkg && strings.HasPrefix(pkg, p+"/") && strings.HasPrefix(p, module) {
				relPath, _ := filepath.Rel(root, path)
				t.Errorf("%s (package %s) imports its parent %s: move what it needs to internal/", relPath, pkg, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d Go files checked under %s: is the walk wrong?", checked, root)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the module root: %v", root, err)
	}
}
