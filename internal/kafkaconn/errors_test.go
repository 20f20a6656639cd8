package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestPermanent(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{kafka.MessageTooLargeError{}, true},
		{kafka.MessageSizeTooLarge, true},
		{fmt.Errorf("writing: %w", kafka.RecordListTooLarge), true},
		{kafka.InvalidRecord, true},
		{kafka.InvalidTimestamp, true},
		{kafka.LeaderNotAvailable, false},
		{kafka.NotLeaderForPartition, false},
		{kafka.NotEnoughReplicas, false},
		{kafka.RequestTimedOut, false},
		{kafka.UnknownTopicOrPartition, false},
		{io.EOF, false},
		{context.DeadlineExceeded, false},
		{errors.New("dial tcp 127.0.0.1:9092: connection refused"), false},
	} {
		if got := Permanent(c.err); got != c.want {
			t.Errorf("Permanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
