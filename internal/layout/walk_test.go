package layout

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is the repository's root, two levels up.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// walkModule calls fn with every file of the module below root, leaving out
// hidden folders, testdata and node_modules: the files the layout tests
// read.
func walkModule(root string, fn func(path string, d fs.DirEntry) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		return fn(path, d)
	})
}
