// Package kafkaconn holds the Kafka connection settings every role shares
// and the topic set-up they all run at start.
package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Config says where Kafka is and how topics are created.
type Config struct {
	Brokers           []string `yaml:"brokers"`
	ClientID          string   `yaml:"client_id"`
	Partitions        int      `yaml:"partitions"`         // for topics this pipeline creates
	ReplicationFactor int      `yaml:"replication_factor"` // 1 on one machine, 3 on a cluster
	// TopicPrefix is prepended to every topic name (tests and several
	// pipelines sharing one cluster use it).
	TopicPrefix string `yaml:"topic_prefix"`
	// SASL and TLS secure the connections to the brokers (security.go).
	SASL SASLConfig `yaml:"sasl"`
	TLS  TLSConfig  `yaml:"tls"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	if c.ClientID == "" {
		c.ClientID = "ioc"
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka.brokers: at least one broker address (host:port) is required")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka.brokers: %q is not host:port: %w", b, err)
		}
	}
	if c.Partitions < 1 || c.Partitions > 1000 {
		return fmt.Errorf("kafka.partitions: %d is outside 1..1000", c.Partitions)
	}
	if c.ReplicationFactor < 1 {
		return fmt.Errorf("kafka.replication_factor: %d must be at least 1", c.ReplicationFactor)
	}
	return c.validateSecurity()
}

// Topic returns the full name of a pipeline topic.
func (c *Config) Topic(name string) string { return c.TopicPrefix + name }

// Transport returns a new connection pool: every call makes its own,
// nothing is shared. Each writer (NewWriter) and each client (NewClient)
// holds one of its own; NewClient says why it must be released.
func (c *Config) Transport() *kafka.Transport {
	m, t := c.security()
	// MetadataTTL: kafka-go learns that a partition has a new leader only
	// at its next metadata refresh (6 s by default, not on errors); with a
	// broker of a cluster down, writes to the partitions it led fail until
	// then. 2 s shortens that wait for a few small requests a second.
	return &kafka.Transport{ClientID: c.ClientID, DialTimeout: 5 * time.Second, SASL: m, TLS: t, MetadataTTL: 2 * time.Second}
}

// Dialer is what kafka-go readers use.
func (c *Config) Dialer() *kafka.Dialer {
	m, t := c.security()
	return &kafka.Dialer{ClientID: c.ClientID, Timeout: 10 * time.Second, DualStack: true, SASLMechanism: m, TLS: t}
}

// NewClient returns a kafka-go Client with a Transport of its own, and the
// function that releases it. A Transport keeps a connection pool with a
// goroutine that refreshes the metadata of every topic of the cluster
// every few seconds until its idle connections are closed: a Transport
// made per call and never released leaks all of that, call after call.
func (c *Config) NewClient(timeout time.Duration) (*kafka.Client, func()) {
	t := c.Transport()
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: t}, t.CloseIdleConnections
}

// EnsureTopics creates the named topics if they do not exist yet. It is
// safe to call from every role at every start.
func (c *Config) EnsureTopics(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil // a Metadata request naming no topic asks for all of them
	}
	client, release := c.NewClient(15 * time.Second)
	defer release()
	req := &kafka.CreateTopicsRequest{}
	for _, n := range names {
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic: c.Topic(n), NumPartitions: c.Partitions, ReplicationFactor: c.ReplicationFactor,
		})
	}
	res, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("creating kafka topics %s on %s: %w (is Kafka running? try deploy/local/services.sh status)",
			strings.Join(names, ", "), strings.Join(c.Brokers, ","), err)
	}
	for topic, terr := range res.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			return fmt.Errorf("creating kafka topic %s: %w", topic, terr)
		}
	}
	// CreateTopics returns when the KRaft controller has the topics, a
	// moment before the brokers serve them; a consumer group joined in that
	// moment is assigned none of their partitions and, without a rebalance,
	// never reads them.
	return c.WaitForLeaders(ctx, names...)
}

// Dial connects to the first broker of Brokers that answers, in order: a
// cluster's first broker being down must not stop a role from starting.
func (c *Config) Dial(ctx context.Context) (*kafka.Conn, error) {
	var errs []error
	for _, b := range c.Brokers {
		conn, err := c.Dialer().DialContext(ctx, "tcp", b)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dialing kafka (tried %s): %w", strings.Join(c.Brokers, ","), errors.Join(errs...))
}

// DialLeader connects to the leader of a partition, asking each broker of
// Brokers in turn where it is.
func (c *Config) DialLeader(ctx context.Context, topic string, partition int) (*kafka.Conn, error) {
	var errs []error
	for _, b := range c.Brokers {
		conn, err := c.Dialer().DialLeader(ctx, "tcp", b, c.Topic(topic), partition)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dialing the leader of %s partition %d (asked %s): %w",
		c.Topic(topic), partition, strings.Join(c.Brokers, ","), errors.Join(errs...))
}

// PartitionIDs lists the partition ids of a topic, asking the first
// broker of Brokers that answers (Dial).
func (c *Config) PartitionIDs(ctx context.Context, topic string) ([]int, error) {
	conn, err := c.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(c.Topic(topic))
	if err != nil {
		return nil, fmt.Errorf("reading partitions of %s: %w", c.Topic(topic), err)
	}
	ids := make([]int, 0, len(parts))
	for _, p := range parts {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

// DeleteTopicsWithPrefix deletes every topic whose name begins with the
// configured TopicPrefix (a run's, a test's, a benchmark's: the roles create
// more than the readings and dead-letter topics) and returns their names.
// An empty prefix is refused: it would name every topic of the cluster.
func (c *Config) DeleteTopicsWithPrefix(ctx context.Context) ([]string, error) {
	if c.TopicPrefix == "" {
		return nil, errors.New("deleting topics by prefix: the prefix is empty; it would delete every topic")
	}
	client, release := c.NewClient(20 * time.Second)
	defer release()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing topics to delete: %w", err)
	}
	var mine []string
	for _, tp := range md.Topics {
		if strings.HasPrefix(tp.Name, c.TopicPrefix) {
			mine = append(mine, tp.Name)
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: mine}); err != nil {
		return mine, fmt.Errorf("deleting topics %v: %w", mine, err)
	}
	return mine, nil
}
