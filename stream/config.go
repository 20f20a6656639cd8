package stream

import (
	"errors"
	"fmt"
	"time"

	"github.com/sonla-ioc/ioc/stream/monitor"
	"github.com/sonla-ioc/ioc/stream/rollup"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// Config is the stream role's configuration.
type Config struct {
	// GroupID is the Kafka consumer group; every stream instance of one
	// pipeline shares it and Kafka splits the partitions between them.
	GroupID string `yaml:"group_id"`
	// A batch is written to ClickHouse when it holds MaxRows rows or its
	// oldest row is MaxAge old, whichever comes first.
	MaxRows int           `yaml:"max_rows"`
	MaxAge  time.Duration `yaml:"max_age"`
	// FetchQueue bounds records fetched from Kafka and not yet in a batch.
	FetchQueue int `yaml:"fetch_queue"`
	// Migrate applies the ClickHouse schema at start.
	Migrate *bool `yaml:"migrate"`
	// SessionTimeout is how long Kafka waits for a silent group member
	// before it hands that member's partitions to the others: after a crash
	// (SIGKILL, power loss) consumption of those partitions stops this long.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long Kafka waits for every member to rejoin
	// during a rebalance.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// SettleAfter is how long a stream writes unsettled after it starts,
	// sees a rebalance or was paused (schema.Lowerer): it lowers the
	// analyst view's watermark before each batch. Then it looks every batch
	// up and inserts only new readings, without lowering it. It must be
	// more than an insert (60 s) and a rebalance may take, so that a former
	// owner's last insert lands before the new owner looks up alone.
	SettleAfter time.Duration `yaml:"settle_after"`
	// UnsafeCommitBeforeInsert commits Kafka offsets of fetched records
	// before ClickHouse has them (every max_age/4), so a crash loses the
	// batch being built. It exists only so that the fault suite (faults/)
	// can show that its loss check fails; never set it in production.
	UnsafeCommitBeforeInsert bool `yaml:"unsafe_commit_before_insert"`
	// RegistryFile is the declared device registry (deploy/devices.csv),
	// loaded into ClickHouse's devices table at start; empty takes
	// ingest.registry_file.
	RegistryFile string `yaml:"registry_file"`
	// Status: when a device is late or offline, when a feed is silent.
	Status monitor.StatusConfig `yaml:"status"`
	// Alerts: the rules evaluated on the live data and their lifecycle.
	Alerts monitor.AlertsConfig `yaml:"alerts"`
	// Rollup: the hourly and daily aggregates kept for years (stream/rollup).
	Rollup rollup.Config `yaml:"rollup"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.GroupID == "" {
		c.GroupID = "ioc-stream"
	}
	if c.MaxRows == 0 {
		c.MaxRows = 50000
	}
	if c.MaxAge == 0 {
		c.MaxAge = time.Second
	}
	if c.FetchQueue == 0 {
		c.FetchQueue = 10000
	}
	if c.Migrate == nil {
		t := true
		c.Migrate = &t
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.SettleAfter == 0 {
		c.SettleAfter = schema.WatermarkGrace
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = 10 * time.Second
	}
	c.Status.Defaults()
	c.Alerts.Defaults()
	c.Rollup.Defaults()
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.GroupID == "":
		return errors.New("stream.group_id: required")
	case c.MaxRows < 1 || c.MaxRows > 1_000_000:
		return fmt.Errorf("stream.max_rows: %d is outside 1..1000000", c.MaxRows)
	case c.MaxAge < 10*time.Millisecond:
		return fmt.Errorf("stream.max_age: %s is below 10ms; ClickHouse wants about one insert per second per table", c.MaxAge)
	case c.FetchQueue < 1:
		return fmt.Errorf("stream.fetch_queue: %d must be positive", c.FetchQueue)
	case c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute:
		return fmt.Errorf("stream.session_timeout: %s is outside 6s..5m (the broker's group.min.session.timeout.ms is 6s by default)", c.SessionTimeout)
	case c.RebalanceTimeout < time.Second || c.RebalanceTimeout > 5*time.Minute:
		return fmt.Errorf("stream.rebalance_timeout: %s is outside 1s..5m", c.RebalanceTimeout)
	case c.SettleAfter < c.minSettle() || c.SettleAfter > time.Hour:
		return fmt.Errorf("stream.settle_after: %s is outside %s..1h: it must outlast an insert (%s) and a rebalance (stream.rebalance_timeout %s), or two instances may store one reading twice",
			c.SettleAfter, c.minSettle(), insertTimeout, c.RebalanceTimeout)
	}
	if err := c.Status.Validate(); err != nil {
		return err
	}
	if err := c.Rollup.Validate(); err != nil {
		return err
	}
	return c.Alerts.Validate()
}

// minSettle is the shortest stream.settle_after: a former owner's last
// lookup and insert, after a rebalance, and a margin.
func (c *Config) minSettle() time.Duration { return insertTimeout + c.RebalanceTimeout + 5*time.Second }
