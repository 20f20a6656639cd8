// Package chconn holds the ClickHouse connection settings every role shares.
package chconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Config says where ClickHouse is. The password may come from a file
// (password_file) so that it never sits in the repository or the config.
//
// username/password are the administrative account: migrations, `ioc
// migrate`, `ioc user`, `ioc kiosk`, retention. Each running role should
// have its own account with only what it needs (docs/security.md): Accounts,
// keyed by role, and For(role) picks it.
type Config struct {
	Addr         []string      `yaml:"addr"` // native protocol, host:9000
	Database     string        `yaml:"database"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds the wait for a server's answer (60 s when zero).
	// Not a setting: a tool whose statements run long without sending
	// anything (OPTIMIZE ... FINAL of a month, `ioc dedup`) sets it.
	ReadTimeout time.Duration `yaml:"-"`
	// Cluster, when set, makes the migration create replicated tables ON
	// CLUSTER with this name (see docs/clickhouse.md).
	Cluster string `yaml:"cluster"`
	// Accounts are the roles' own accounts: stream, dashboard, ingest
	// (RoleStream, RoleDashboard, RoleIngest). A role without one runs as
	// username above.
	Accounts map[string]Account `yaml:"accounts,omitempty"`
}

// Account is the ClickHouse account of one role.
type Account struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
}

// The roles that may have an account of their own (clickhouse.accounts).
const (
	RoleStream    = "stream"    // readings, dead letters, devices, feeds: <db> only
	RoleDashboard = "dashboard" // sign-in, accounts, kiosk tokens, audit log; reads <db>
	RoleIngest    = "ingest"    // the audit events of refused administrative posts
	// RoleNotify: the notifier's log (notification_log) only; without an
	// account of its own the notifier runs as the stream's (ForNotify).
	RoleNotify = "notify"
)

// Roles lists the roles of Accounts.
var Roles = []string{RoleStream, RoleDashboard, RoleIngest, RoleNotify}

// ForNotify is the configuration the notifier connects with: its own
// account (clickhouse.accounts.notify), else the stream's, whose rights on
// the data database cover notification_log.
func (c Config) ForNotify() Config {
	if c.HasAccount(RoleNotify) {
		return c.For(RoleNotify)
	}
	return c.For(RoleStream)
}

// For is the configuration a role connects with: its own account when
// clickhouse.accounts names one, else the administrative account.
func (c Config) For(role string) Config {
	a, ok := c.Accounts[role]
	if !ok || a.Username == "" {
		return c
	}
	c.Username, c.Password, c.PasswordFile = a.Username, a.Password, a.PasswordFile
	c.Accounts = nil
	return c
}

// HasAccount reports whether the role has an account of its own.
func (c Config) HasAccount(role string) bool { return c.Accounts[role].Username != "" }

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if len(c.Addr) == 0 {
		c.Addr = []string{"127.0.0.1:9000"}
	}
	if c.Database == "" {
		c.Database = "ioc"
	}
	if c.Username == "" {
		c.Username = "default"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if len(c.Addr) == 0 {
		return errors.New("clickhouse.addr: at least one host:port (native protocol, usually 9000) is required")
	}
	for _, a := range c.Addr {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("clickhouse.addr: %q is not host:port: %w", a, err)
		}
	}
	if !identRE.MatchString(c.Database) {
		return fmt.Errorf("clickhouse.database: %q must be a plain identifier", c.Database)
	}
	if c.Cluster != "" && !identRE.MatchString(c.Cluster) {
		return fmt.Errorf("clickhouse.cluster: %q must be a plain identifier", c.Cluster)
	}
	if c.Password != "" && c.PasswordFile != "" {
		return errors.New("clickhouse: set password or password_file, not both")
	}
	for role, a := range c.Accounts {
		if !slices.Contains(Roles, role) {
			return fmt.Errorf("clickhouse.accounts: %q is not a role with an account of its own (%s)", role, strings.Join(Roles, ", "))
		}
		switch {
		case a.Username == "":
			return fmt.Errorf("clickhouse.accounts.%s.username: required (or remove the entry: the role then runs as clickhouse.username)", role)
		case a.Username == c.Username:
			return fmt.Errorf("clickhouse.accounts.%s.username: %q is the administrative account (clickhouse.username), which runs migrations; give the role its own account (docs/security.md)", role, a.Username)
		case a.Password != "" && a.PasswordFile != "":
			return fmt.Errorf("clickhouse.accounts.%s: set password or password_file, not both", role)
		}
	}
	return nil
}

// Table names a table the roles read and insert through: database.name on
// one node; in cluster mode database.name_all, the Distributed table over
// every shard (docs/clickhouse.md, "Cluster mode").
func (c *Config) Table(name string) string {
	if c.Cluster != "" {
		return c.Database + "." + name + "_all"
	}
	return c.Database + "." + name
}

// SecurityDatabase is the database of the security tables (accounts, kiosk
// tokens, audit log): the data database's name with "_security" appended. It is
// a database of its own so that analysts, allowed the data database only,
// never reach it (docs/security.md).
func (c *Config) SecurityDatabase() string { return c.Database + "_security" }

// SecurityTable names a table of SecurityDatabase, as Table does for the data
// database.
func (c *Config) SecurityTable(name string) string {
	if c.Cluster != "" {
		return c.SecurityDatabase() + "." + name + "_all"
	}
	return c.SecurityDatabase() + "." + name
}

// Open connects without selecting a database (so that the migration can
// create it); every query names its tables as database.table.
func (c *Config) Open(ctx context.Context) (driver.Conn, error) {
	password := c.Password
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("reading the password file of clickhouse account %s: %w (locally: deploy/local/services.sh restart clickhouse writes them)", c.Username, err)
		}
		password = strings.TrimSpace(string(b))
	}
	var settings clickhouse.Settings
	if c.Cluster != "" {
		// An insert into a Distributed table is acknowledged only once every
		// shard it touches has written its rows, not when the receiving node
		// queued them: stream commits Kafka offsets after that acknowledgement.
		settings = clickhouse.Settings{"insert_distributed_sync": 1}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Settings: settings,
		Addr:     c.Addr,
		// Every address is tried when a connection is opened, starting at a
		// different one each time: a cluster's servers share the load, and
		// one that is down is passed over (each insert and query goes
		// through the Distributed tables, so any server will do).
		ConnOpenStrategy: clickhouse.ConnOpenRoundRobin,
		Auth:             clickhouse.Auth{Database: "default", Username: c.Username, Password: password},
		DialTimeout:      c.DialTimeout,
		MaxOpenConns:     8,
		MaxIdleConns:     4,
		ConnMaxLifetime:  time.Hour,
		ReadTimeout:      cmp.Or(c.ReadTimeout, 60*time.Second),
		Compression:      &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("opening clickhouse %s: %w", strings.Join(c.Addr, ","), err)
	}
	pctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("reaching clickhouse %s: %w (is it running? try deploy/local/services.sh status)", strings.Join(c.Addr, ","), err)
	}
	return conn, nil
}
