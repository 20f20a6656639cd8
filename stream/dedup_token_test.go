package stream

import (
	"hash/fnv"
	"testing"

	"github.com/sonla-ioc/ioc/stream/schema"
)

// A batch's insert_deduplication_token: set only where replicated tables
// honour it (a cluster on 22.2 or newer), the same for the same Kafka
// records, another for others.
func TestDedupTokenGatedAndStable(t *testing.T) {
	sum := func(recs ...string) uint64 {
		h := fnv.New64a()
		for _, r := range recs {
			h.Write([]byte(r))
		}
		return h.Sum64()
	}
	a, b := sum("ioc.readings", "p0o1", "p0o2"), sum("ioc.readings", "p0o2", "p0o3")
	for _, c := range []struct {
		cluster string
		server  schema.Version
		records uint64
		n       int
		empty   bool
	}{
		{"", schema.Version{Major: 25, Minor: 8}, a, 2, true},       // one node: plain MergeTree ignores tokens
		{"sonla", schema.Version{Major: 18, Minor: 16}, a, 2, true}, // 18.16 has no such setting
		{"sonla", schema.Version{Major: 22, Minor: 1}, a, 2, true},
		{"sonla", schema.Version{Major: 25, Minor: 8}, a, 0, true}, // nothing to insert
		{"sonla", schema.Version{Major: 22, Minor: 2}, a, 2, false},
	} {
		if got := dedupToken(c.cluster, c.server, c.records, c.n); (got == "") != c.empty {
			t.Errorf("dedupToken(%q, %s, n=%d) = %q, want empty: %v", c.cluster, c.server, c.n, got, c.empty)
		}
	}
	v := schema.Version{Major: 25, Minor: 8}
	again := sum("ioc.readings", "p0o1", "p0o2") // the same records, read again
	if dedupToken("sonla", v, a, 2) != dedupToken("sonla", v, again, 2) {
		t.Error("the same records give two tokens: a retried batch would be stored twice")
	}
	if dedupToken("sonla", v, a, 2) == dedupToken("sonla", v, b, 2) {
		t.Error("other records give the same token: a new batch would be dropped as a retry")
	}
}
