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
	// Its clean-up: chtest, the cluster tests' dropOnCluster (which drops
	// on every server), the bench's dropDatabases (the database and every
	// one its name begins), or a DROP of the database and of its security
	// database (which every migration creates beside it).
	dropsBoth = regexp.MustCompile(`chtest\.(Scratch|DropOnCleanup)|tp\.dropOnCluster|dropDatabases\(ctx, `)
	dropsDB   = regexp.MustCompile(`DROP DATABASE`)
	dropsSec  = regexp.MustCompile(`SecurityDatabase\(\)|_security|startsWith\(name`)

	// Topics of a prefix of its own, and their clean-up: every topic of
	// the prefix, since the roles under test create more than the test
	// names.
	topicPrefix = regexp.MustCompile(`TopicPrefix(:| =)`)
	dropsTopics = regexp.MustCompile(`DeleteTopicsWithPrefix|kafkatest\.Topics\(|dropTopics\(t, `)
	// Files that set a prefix but reach no real broker (leaders_test.go:
	// a kfake cluster of its own, gone when the test closes it).
	noBroker = map[string]bool{"internal/kafkaconn/writer_test.go": true, "internal/kafkaconn/leaders_test.go": true}
)

// Every test file (and test harness file: bench, faults) that creates a
// ClickHouse database drops it and its security database: tests drop what
// they create. Use chtest.Scratch or chtest.DropOnCleanup.
//
// The same for Kafka topics under a prefix of the test's.
func TestScratchDatabasesAreDropped(t *testing.T) {
	root := moduleRoot(t)
	var bad []string // what a file creates and does not drop
	checked := 0
	err := walkModule(root, func(path string, d fs.DirEntry) error {
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
			bad = append(bad, rel+" creates a ClickHouse database but does not drop it and its security database: use chtest.Scratch or chtest.DropOnCleanup")
		}
		if topicPrefix.MatchString(src) && !dropsTopics.MatchString(src) && !noBroker[filepath.ToSlash(rel)] {
			bad = append(bad, rel+" creates Kafka topics under a prefix of its own but does not delete them: kafkatest.Topics, or DeleteTopicsWithPrefix in a t.Cleanup")
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
		t.Error(f)
	}
}
