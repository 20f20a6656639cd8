package stream

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/kafkatest"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// The CSV seed gives every device one version, and stream stores the
// seed in ClickHouse one record at a time. A stream stopped part way (a
// SIGTERM in CI cut one of those inserts) must store the rest on its next
// start. It used to skip every record not newer than the table's newest
// version, so those devices were missing from device_registry_raw, and
// from the devices view, for good.
func TestRegistryStoreResumesAPartlyStoredSeed(t *testing.T) {
	kc := kafkatest.Topics(t, "regresume", 1)
	ch, conn := chtest.Migrated(t, "ioc_regresume", schema.Migrate)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base, err := registry.Load("../deploy/devices.csv")
	if err != nil {
		t.Fatal(err)
	}

	// The earlier run: the seed published, its first 10 records stored.
	w := kc.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond})
	defer w.Close()
	if err := kc.EnsureCompactedTopic(ctx, registry.TopicDevices); err != nil {
		t.Fatal(err)
	}
	version := time.Now().UnixMilli()
	var seed []registry.Record
	for _, d := range base.Devices() {
		r := registry.RecordOf(d)
		r.Version, r.Actor, r.Source = version, "system:stream", registry.SourceCSV
		seed = append(seed, r)
	}
	if err := registry.Publish(ctx, w, kc, seed...); err != nil {
		t.Fatal(err)
	}
	for _, r := range seed[:10] {
		if err := storeRecord(ctx, conn, ch, r); err != nil {
			t.Fatal(err)
		}
	}

	// The next start.
	f, err := registryFollower(ctx, kc, ch, conn, base, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), w, func(*registry.Registry) {})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() { stop(); <-done }()
	testpoll.Eventually(t, 30*time.Second, "every device of the seed in device_registry_raw", func() (bool, string) {
		var devices uint64
		if err := conn.QueryRow(ctx, "SELECT uniqExact(device_id) FROM "+ch.Table("device_registry_raw")).Scan(&devices); err != nil {
			return false, err.Error()
		}
		return devices == uint64(len(seed)), fmt.Sprintf("%d devices of %d stored", devices, len(seed))
	})
}
