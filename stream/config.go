package stream

import (
	"errors"
	"fmt"
	"time"
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
	}
	return nil
}
