package chconn

import (
	"context"
	"log/slog"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/backoff"
)

// OpenRetry opens a connection as Open does, trying again (internal/backoff)
// until ClickHouse answers or ctx ends: a role that starts before its
// ClickHouse waits for it.
func (c *Config) OpenRetry(ctx context.Context, log *slog.Logger) (driver.Conn, error) {
	var conn driver.Conn
	err := backoff.Retry(ctx, log, "connecting to clickhouse", func() (err error) {
		conn, err = c.Open(ctx)
		return err
	})
	return conn, err
}
