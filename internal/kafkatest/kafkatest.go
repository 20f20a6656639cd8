// Package kafkatest gives a test topics of its own on the local Kafka
// (deploy/local/services.sh), and drops them when the test ends.
package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Topics returns a configuration of the brokers in IOC_KAFKA_BROKERS with a
// topic prefix of its own (prefix and a number), and the named topics
// created with that many partitions; they are deleted when the test ends.
// The test is skipped when IOC_KAFKA_BROKERS is not set.
func Topics(t testing.TB, prefix string, partitions int, names ...string) kafkaconn.Config {
	t.Helper()
	env := os.Getenv("IOC_KAFKA_BROKERS")
	if env == "" {
		t.Skip(`IOC_KAFKA_BROKERS not set: this test needs the real Kafka (eval "$(deploy/local/services.sh env)")`)
	}
	c := kafkaconn.Config{Brokers: strings.Split(env, ","), TopicPrefix: fmt.Sprintf("%s%d.", prefix, time.Now().UnixNano()%1e9),
		Partitions: partitions}
	c.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx, names...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Every topic of the prefix: the code under test may create more.
		if _, err := c.DeleteTopicsWithPrefix(context.Background()); err != nil {
			t.Logf("deleting the test topics %s*: %v", c.TopicPrefix, err)
		}
	})
	return c
}
