package auth

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

// User is a dashboard account. PasswordHash is an argon2id PHC string (empty
// for an account that signs in through OIDC only).
type User struct {
	Username     string `json:"username"`
	DisplayName  string `json:"display_name"`
	Role         Role   `json:"role"`
	PasswordHash string `json:"-"`
	Disabled     bool   `json:"disabled"`
	// Epoch grows with every password, role or enable/disable change; a
	// session remembers the epoch it was issued under.
	Epoch     uint32 `json:"epoch"`
	UpdatedBy string `json:"updated_by"`
	UpdatedMs int64  `json:"updated_ms"`
	Version   uint64 `json:"-"`
}

// Kiosk is a video wall's token. Only the SHA-256 of its secret is kept.
type Kiosk struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	SecretHash string `json:"-"`
	Scope      string `json:"scope"` // "wall"
	Revoked    bool   `json:"revoked"`
	CreatedBy  string `json:"created_by"`
	CreatedMs  int64  `json:"created_ms"`
	ExpiresMs  int64  `json:"expires_ms"`
	UpdatedBy  string `json:"updated_by"`
	Version    uint64 `json:"-"`
}

// Store keeps accounts and kiosk tokens. Put replaces the record with the
// same key; readers get the newest state of each.
type Store interface {
	Users(ctx context.Context) ([]User, error)
	PutUser(ctx context.Context, u User) error
	Kiosks(ctx context.Context) ([]Kiosk, error)
	PutKiosk(ctx context.Context, k Kiosk) error
}

// MemStore is a Store in memory, for tests and throw-away instances.
type MemStore struct {
	mu     sync.Mutex
	users  map[string]User
	kiosks map[string]Kiosk
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{users: map[string]User{}, kiosks: map[string]Kiosk{}}
}

func (m *MemStore) Users(context.Context) ([]User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]User, 0, len(m.users))
	for _, u := range m.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out, nil
}

func (m *MemStore) PutUser(_ context.Context, u User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[u.Username] = u
	return nil
}

func (m *MemStore) Kiosks(context.Context) ([]Kiosk, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Kiosk, 0, len(m.kiosks))
	for _, k := range m.kiosks {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedMs < out[j].CreatedMs })
	return out, nil
}

func (m *MemStore) PutKiosk(_ context.Context, k Kiosk) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kiosks[k.ID] = k
	return nil
}

// CHStore keeps accounts and kiosk tokens in the ClickHouse tables
// {database}_security.users and .kiosk_tokens (020_security.sql). A change is
// a new row with a higher version; reads take the newest row per key, among
// rows whose version is not beyond MaxClockSkew in the future.
type CHStore struct {
	ch   chconn.Config
	sql  *sqltmpl.Set // sql/*.sql, parsed once
	mu   sync.Mutex
	conn driver.Conn
	// Log receives a warning for every read that refused future rows
	// (nil: slog.Default()).
	Log *slog.Logger
}

// MaxClockSkew is how far ahead of this instance's clock a row's version
// (its writer's clock, in nanoseconds) may be and still be read. A row
// further ahead is refused: written by a clock gone wrong, or forged so
// that no later change could ever outrank it (an admin account nobody can
// disable, a kiosk token nobody can revoke). Dashboard instances keep their
// clocks within this of each other (NTP).
const MaxClockSkew = 2 * time.Minute

// horizon is the highest version a read accepts now.
func horizon() uint64 { return uint64(time.Now().Add(MaxClockSkew).UnixNano()) }

// warnFuture logs the rows of table that a read refused for their version.
func (s *CHStore) warnFuture(ctx context.Context, conn driver.Conn, table, key string, h uint64) {
	var n uint64
	var keys []string
	if err := conn.QueryRow(ctx, "SELECT count(), arraySlice(groupUniqArray("+key+"), 1, 10) FROM "+table+" WHERE version > ?", h).Scan(&n, &keys); err != nil || n == 0 {
		return
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	log.Warn("refused rows with a version in the future (clock skew beyond the bound, or forged)", "component", "auth",
		"table", table, "rows", n, "keys", keys, "max_clock_skew", MaxClockSkew)
}

// NewCHStore returns a store on the configured ClickHouse.
func NewCHStore(ch chconn.Config) *CHStore {
	s := &CHStore{ch: ch}
	s.sql = sqltmpl.MustParse(sqlFS, &s.ch, nil, "sql/*.sql")
	return s
}

// Conn is the store's connection (opened on first use).
func (s *CHStore) Conn(ctx context.Context) (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return s.conn, nil
	}
	c, err := s.ch.Open(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
}

func (s *CHStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close releases the connection.
func (s *CHStore) Close() { s.reset() }

//go:embed sql/*.sql
var sqlFS embed.FS

// query renders one of sql/*.sql with the store's table names.
func (s *CHStore) query(name string) (string, error) {
	return s.sql.Render(name, nil)
}

func (s *CHStore) Users(ctx context.Context) ([]User, error) {
	conn, err := s.Conn(ctx)
	if err != nil {
		return nil, err
	}
	h := horizon()
	s.warnFuture(ctx, conn, s.ch.SecurityTable("users"), "username", h)
	q, err := s.query("users.sql")
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q, h)
	if err != nil {
		s.reset()
		return nil, fmt.Errorf("reading accounts from %s: %w (did the schema migration run? `ioc migrate`)", s.ch.SecurityTable("users"), err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var role string
		var disabled uint8
		if err := rows.Scan(&u.Username, &u.DisplayName, &role, &u.PasswordHash, &disabled, &u.Epoch, &u.UpdatedBy, &u.UpdatedMs, &u.Version); err != nil {
			return nil, fmt.Errorf("reading accounts: %w", err)
		}
		u.Role, u.Disabled = Role(role), disabled == 1
		out = append(out, u)
	}
	return out, rows.Err()
}

func (s *CHStore) PutUser(ctx context.Context, u User) error {
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	q, err := s.query("users_insert.sql")
	if err != nil {
		return err
	}
	b, err := conn.PrepareBatch(ctx, q)
	if err != nil {
		s.reset()
		return fmt.Errorf("saving account %s: %w", u.Username, err)
	}
	defer b.Abort()
	if err := b.Append(u.Username, u.DisplayName, string(u.Role), u.PasswordHash, boolU8(u.Disabled), u.Epoch,
		u.UpdatedBy, u.UpdatedMs, version()); err != nil {
		return fmt.Errorf("saving account %s: %w", u.Username, err)
	}
	if err := b.Send(); err != nil {
		s.reset()
		return fmt.Errorf("saving account %s: %w", u.Username, err)
	}
	return nil
}

func (s *CHStore) Kiosks(ctx context.Context) ([]Kiosk, error) {
	conn, err := s.Conn(ctx)
	if err != nil {
		return nil, err
	}
	h := horizon()
	s.warnFuture(ctx, conn, s.ch.SecurityTable("kiosk_tokens"), "id", h)
	q, err := s.query("kiosks.sql")
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, q, h)
	if err != nil {
		s.reset()
		return nil, fmt.Errorf("reading kiosk tokens from %s: %w (did the schema migration run? `ioc migrate`)", s.ch.SecurityTable("kiosk_tokens"), err)
	}
	defer rows.Close()
	var out []Kiosk
	for rows.Next() {
		var k Kiosk
		var revoked uint8
		if err := rows.Scan(&k.ID, &k.Name, &k.SecretHash, &k.Scope, &revoked, &k.CreatedBy, &k.CreatedMs, &k.ExpiresMs, &k.UpdatedBy, &k.Version); err != nil {
			return nil, fmt.Errorf("reading kiosk tokens: %w", err)
		}
		k.Revoked = revoked == 1
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *CHStore) PutKiosk(ctx context.Context, k Kiosk) error {
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	q, err := s.query("kiosks_insert.sql")
	if err != nil {
		return err
	}
	b, err := conn.PrepareBatch(ctx, q)
	if err != nil {
		s.reset()
		return fmt.Errorf("saving kiosk token %s: %w", k.ID, err)
	}
	defer b.Abort()
	if err := b.Append(k.ID, k.Name, k.SecretHash, k.Scope, boolU8(k.Revoked), k.CreatedBy, k.CreatedMs, k.ExpiresMs,
		k.UpdatedBy, version()); err != nil {
		return fmt.Errorf("saving kiosk token %s: %w", k.ID, err)
	}
	if err := b.Send(); err != nil {
		s.reset()
		return fmt.Errorf("saving kiosk token %s: %w", k.ID, err)
	}
	return nil
}

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

var (
	versionMu   sync.Mutex
	lastVersion uint64
)

// version orders the rows of one key: wall-clock nanoseconds, strictly
// increasing within this process.
func version() uint64 {
	versionMu.Lock()
	defer versionMu.Unlock()
	v := uint64(time.Now().UnixNano())
	if v <= lastVersion {
		v = lastVersion + 1
	}
	lastVersion = v
	return v
}
