package kafkaconn

import "testing"

func TestPartitionLag(t *testing.T) {
	for _, c := range []struct {
		first, end, committed, want int64
	}{
		{0, 0, -1, 0},       // empty partition, nothing committed
		{0, 10, -1, 10},     // nothing committed: from the log start
		{4, 10, -1, 6},      // nothing committed, log start moved by retention
		{0, 10, 7, 3},       // committed part of it
		{0, 10, 10, 0},      // caught up
		{8, 10, 3, 2},       // commit older than the log start
		{0, 10, 12, 0},      // commit ahead of a (truncated) end: never negative
		{-1, -1, -1, 0},     // offsets unknown
		{100, 250, 180, 70}, // ordinary
	} {
		if got := partitionLag(c.first, c.end, c.committed); got != c.want {
			t.Errorf("partitionLag(first %d, end %d, committed %d) = %d, want %d", c.first, c.end, c.committed, got, c.want)
		}
	}
}
