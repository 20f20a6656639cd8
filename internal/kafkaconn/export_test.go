package kafkaconn

import "github.com/segmentio/kafka-go"

// SetPositionReader replaces how Tail positions its readers until the
// returned function is called.
func SetPositionReader(f func(r *kafka.Reader, offset int64) error) (restore func()) {
	old := positionReader
	positionReader = f
	return func() { positionReader = old }
}
