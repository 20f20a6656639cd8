package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chtest"
)

// scratchConfig is the default configuration on the real local Kafka and
// ClickHouse (the test is skipped without them) with a topic prefix
// "<name><run>." and a database "ioc_<name>_<run>" of the test's own, both
// dropped when the test ends: every topic of the prefix, also those the
// roles created. It returns the run for names of the test's own.
func scratchConfig(t *testing.T, name string) (*Config, string) {
	t.Helper()
	for _, k := range []string{"IOC_KAFKA_BROKERS", "IOC_CLICKHOUSE_ADDR"} {
		if os.Getenv(k) == "" {
			t.Skipf("%s not set: this test uses the real local services (make test, or eval \"$(deploy/local/services.sh env)\")", k)
		}
	}
	run := fmt.Sprintf("%d%04d", time.Now().Unix()%100000, rand.IntN(10000))
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.TopicPrefix = name + run + "."
	cfg.ClickHouse.Database = "ioc_" + name + "_" + run
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = cfg.Kafka.DeleteTopicsWithPrefix(ctx)
	})
	chtest.DropOnCleanup(t, cfg.ClickHouse)
	return cfg, run
}
