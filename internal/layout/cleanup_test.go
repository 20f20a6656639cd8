package layout

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// A scratch database: "ioc_<what>_" + run, or a CREATE DATABASE run.
	scratchDB = regexp.MustCompile(`"ioc_[a-z0-9]+_("|%)|chtest\.Scratch|Exec\([^,]+,\s*"CREATE DATABASE`)
	// Its clean-up: chtest (or the cluster tests' dropOnCluster, which
	// drops on every server), or a DROP of the database and of its
	// security database (which every migration creates beside it).
	dropsBoth = regexp.MustCompile(`chtest\.(Scratch|DropOnCleanup)|tp\.dropOnCluster`)
	dropsDB   = regexp.MustCompile(`DROP DATABASE`)
	dropsSec  = regexp.MustCompile(`SecurityDatabase\(\)|_security|startsWith\(name`)
)

// Every test file (and test harness file: bench, faults) that creates a
// ClickHouse database drops it and its security database: tests drop what
// they create. Use chtest.Scratch or chtest.DropOnCleanup.
func TestScratchDatabasesAreDropped(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var bad []string // files naming a scratch database they do not drop
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.Dir(rel)
		checked++
		// Test files everywhere; the harness packages' other files too.
		harness := strings.HasPrefix(rel, "bench/") || strings.HasPrefix(rel, "faults/")
		if !strings.HasSuffix(path, "_test.go") && !harness || dir == "internal/layout" || dir == "internal/chtest" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(b)
		if scratchDB.MatchString(src) && !dropsBoth.MatchString(src) && !(dropsDB.MatchString(src) && dropsSec.MatchString(src)) {
			bad = append(bad, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files scanned: the walk misses the module", checked)
	}
	for _, f := range bad {
		t.Errorf("%s creates a ClickHouse database but does not drop it and its security database: use chtest.Scratch or chtest.DropOnCleanup", f)
	}
}
