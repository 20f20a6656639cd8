package kafkaconn

import (
	"errors"

	"github.com/segmentio/kafka-go"
)

// Permanent reports whether a producer error is about the record itself,
// so that writing it again can never succeed: a record larger than the
// writer's or the broker's limit, or a value or timestamp the broker
// refuses. Everything else (broker down, leader moving, not enough
// replicas, timeouts) is transient: retry, and acknowledge nothing
// upstream meanwhile.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return true
	}
	for _, code := range []kafka.Error{kafka.MessageSizeTooLarge, kafka.RecordListTooLarge, kafka.InvalidRecord, kafka.InvalidTimestamp} {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}
