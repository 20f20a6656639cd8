package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// registryFollower keeps stream's registry live (registry.Follower): it
// seeds the registry topic with the CSV file's devices the topic does not
// hold yet, stores every record newer than what ClickHouse had of its
// device at start in device_registry_raw (one insert per record: registry
// changes are rare), and hands every new registry in force to set (the
// monitor).
func registryFollower(ctx context.Context, kc kafkaconn.Config, ch chconn.Config, conn driver.Conn, file *registry.Registry,
	log *slog.Logger, reg prometheus.Registerer, w *kafka.Writer, set func(*registry.Registry)) (*registry.Follower, error) {
	log = log.With("component", "registry")
	// The newest version stored of each device, not one newest for the
	// table: the CSV seed gives every device one version, so a stream
	// stopped part way through storing it would leave the rest out on
	// every later start, and out of the devices view.
	stored := map[string]int64{}
	q := fmt.Sprintf("SELECT device_id, max(version) FROM %s GROUP BY device_id", ch.Table("device_registry_raw"))
	if err := backoff.Retry(ctx, log, "reading the newest stored registry version of each device", func() error {
		clear(stored)
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var v int64
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			stored[id] = v
		}
		return rows.Err()
	}); err != nil {
		return nil, err
	}
	// Records are stored by a goroutine of their own, in order: ClickHouse
	// being away delays the table, never the monitor's registry.
	toStore := make(chan registry.Record, 4096)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case r := <-toStore:
				_ = backoff.Retry(ctx, log, "storing device "+r.ID+" in "+ch.Table("device_registry_raw"), func() error {
					return storeRecord(ctx, conn, ch, r)
				})
			}
		}
	}()
	return &registry.Follower{Kafka: kc, Log: log, Base: file, Role: "stream", Reg: reg, Seed: true, Writer: w,
		Set: func(r *registry.Registry) {
			log.Info("device registry in force", "devices", r.Len())
			set(r)
		},
		Record: func(r registry.Record) {
			if r.Version <= stored[r.ID] {
				return
			}
			select {
			case toStore <- r:
			case <-ctx.Done():
			}
		}}, nil
}

// storeRecord inserts one registry record.
func storeRecord(ctx context.Context, conn driver.Conn, ch chconn.Config, r registry.Record) error {
	alarms, _ := json.Marshal(r.Alarms)
	windows, _ := json.Marshal(r.Maintenance)
	if r.Alarms == nil {
		alarms = []byte("[]")
	}
	if r.Maintenance == nil {
		windows = []byte("[]")
	}
	retired := uint8(0)
	if r.Retired {
		retired = 1
	}
	return sendColumns(ctx, conn, "insert_device_registry.sql", ch.Table("device_registry_raw"), []string{r.ID}, []string{r.Partner}, []string{r.Type}, []string{r.Ward}, []string{r.Name},
		[]float64{r.Lat}, []float64{r.Lon}, []uint32{uint32(r.IntervalS)}, []string{string(alarms)}, []string{string(windows)},
		[]uint8{retired}, []int64{r.Version}, []string{r.Actor}, []string{r.Source}, []string{r.Note},
		[]time.Time{time.UnixMilli(r.Version)})
}
