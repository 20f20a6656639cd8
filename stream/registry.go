package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// LoadRegistry reads the declared device registry (deploy/devices.csv) and
// stores it in ClickHouse's devices table unless that already holds this
// exact file: stream does it at every start and `ioc migrate` after the
// schema, so it is idempotent. It returns the registry.
func LoadRegistry(ctx context.Context, conn driver.Conn, ch chconn.Config, path string, log *slog.Logger) (*registry.Registry, error) {
	if path == "" {
		return registry.Load("")
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading device registry %s: %w (set stream.registry_file or ingest.registry_file)", path, err)
	}
	reg, err := registry.Load(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	var current string
	q := fmt.Sprintf("SELECT argMax(registry_sha256, version) FROM %s", ch.Table("devices_raw"))
	if err := conn.QueryRow(ctx, q).Scan(&current); err != nil {
		return nil, fmt.Errorf("reading the registry version in clickhouse: %w", err)
	}
	if current == digest {
		log.Info("device registry already in clickhouse", "file", path, "devices", reg.Len())
		return reg, nil
	}
	now := time.Now()
	var (
		ids, partners, types, wards, names, digests []string
		lats, lons                                  []float64
		intervals                                   []uint32
		versions                                    []int64
		loaded                                      []time.Time
	)
	for _, d := range reg.Devices() {
		ids = append(ids, d.ID)
		partners = append(partners, d.Partner)
		types = append(types, d.Type)
		wards = append(wards, d.Ward)
		names = append(names, d.Name)
		lats = append(lats, d.Lat)
		lons = append(lons, d.Lon)
		intervals = append(intervals, uint32(d.Interval/time.Second))
		digests = append(digests, digest)
		versions = append(versions, now.UnixMilli())
		loaded = append(loaded, now)
	}
	if len(ids) == 0 {
		log.Warn("device registry is empty; every device will be listed as unregistered", "file", path)
		return reg, nil
	}
	if err := sendColumns(ctx, conn, "insert_devices.sql", ch.Table("devices_raw"), ids, partners, types, wards, names, lats, lons, intervals, digests, versions, loaded); err != nil {
		return nil, fmt.Errorf("writing the device registry to %s: %w", ch.Table("devices_raw"), err)
	}
	log.Info("device registry loaded into clickhouse", "file", path, "devices", reg.Len(), "sha256", digest[:12])
	return reg, nil
}
