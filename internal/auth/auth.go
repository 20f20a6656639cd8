// Package auth decides who may see and change what on the dashboard
// (docs/security.md): local accounts with argon2id passwords and signed,
// expiring session cookies; OpenID Connect as an option; long-lived,
// revocable kiosk tokens for the video walls, scoped to the wall channel;
// roles and the permissions they grant; CSRF and Origin checks; sign-in
// rate limits; security headers and body limits on every response. Every
// sign-in, refusal and change is written to the audit log.
//
// The dashboard wires it with two calls: Mount adds the sign-in, kiosk and
// admin routes to its mux, and Handler wraps the mux with the access policy
// (policy.go), which refuses what it does not know.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/chconn"
)

// Auth is the dashboard's access control.
type Auth struct {
	cfg      Config
	origins  []string
	log      *slog.Logger
	store    Store
	audit    audit.Sink
	writer   *audit.Writer // nil when the sink is not ours
	ch       chconn.Config
	auditLog *audit.Reader // reads the audit log of ch (admin view, export)
	sign     signer
	oidc     *oidcProvider

	ipLimit   *limiter
	userLimit *limiter
	hashSem   chan struct{} // bounds concurrent argon2 work (memory)

	mu        sync.RWMutex
	users     map[string]User
	kiosks    map[string]Kiosk
	loadedAt  time.Time
	loadErr   error
	revoked   map[string]int64     // signed-out session ids → their expiry
	localAt   map[string]time.Time // "u:<name>", "k:<id>" changed here, when (see refresh)
	refreshMu sync.Mutex

	changes chan struct{} // see Changes

	wsMu   sync.Mutex
	wsOpen map[string]int // open websockets per principal name

	connMu    sync.Mutex
	auditConn driver.Conn // the audit view's, when the store is not ClickHouse

	m *metrics
}

type metrics struct {
	logins  *prometheus.CounterVec
	denied  *prometheus.CounterVec
	limited prometheus.Counter
}

// Options are the parts New takes besides the configuration.
type Options struct {
	// AllowedOrigins are origins besides the request's own host that may
	// open the websocket and send state-changing requests.
	AllowedOrigins []string
	ClickHouse     chconn.Config
	// Store overrides Config.Store (tests).
	Store Store
	// Audit overrides the ClickHouse audit writer (tests).
	Audit    audit.Sink
	Log      *slog.Logger
	Registry prometheus.Registerer
}

// New checks the configuration and prepares access control.
func New(cfg Config, o Options) (*Auth, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	a := &Auth{
		cfg: cfg, origins: o.AllowedOrigins, log: o.Log.With("component", "auth"), store: o.Store, audit: o.Audit, ch: o.ClickHouse,
		ipLimit:   newLimiter(cfg.LoginPerIPPerMinute, max(5, cfg.LoginPerIPPerMinute/2), 100000),
		userLimit: newLimiter(cfg.LoginPerUserPerMinute, max(3, cfg.LoginPerUserPerMinute), 100000),
		hashSem:   make(chan struct{}, 2),
		users:     map[string]User{}, kiosks: map[string]Kiosk{}, revoked: map[string]int64{},
		changes: make(chan struct{}, 1), wsOpen: map[string]int{}, localAt: map[string]time.Time{},
	}
	a.auditLog = audit.NewReader(a.ch)
	if a.store == nil {
		if cfg.Store == "memory" {
			a.store = NewMemStore()
		} else {
			a.store = NewCHStore(o.ClickHouse)
		}
	}
	if a.audit == nil {
		a.writer = audit.New(audit.Config{RefusalsPerAddress: cfg.AuditRefusalsPerAddress, RefusalsPerMinute: cfg.AuditRefusalsPerMinute},
			o.ClickHouse, "dashboard", o.Log, o.Registry)
		a.audit = a.writer
	}
	key, err := loadKey(cfg.SessionKeyFile)
	if err != nil {
		return nil, err
	}
	a.sign = signer{key: key}
	a.m = &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_auth_logins_total",
			Help: "Dashboard sign-ins by outcome (ok, denied, limited)."}, []string{"outcome"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_auth_denied_total",
			Help: "Requests refused by the access policy, by reason."}, []string{"reason"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_auth_rate_limited_total",
			Help: "Sign-in attempts refused by the rate limit."}),
	}
	if o.Registry != nil {
		o.Registry.MustRegister(a.m.logins, a.m.denied, a.m.limited)
	}
	if cfg.OIDC.Issuer != "" {
		a.oidc = newOIDC(cfg.OIDC)
	}
	if cfg.DevOpen {
		a.log.Warn("ANONYMOUS ACCESS IS ON (dashboard.auth.dev_open): anyone who reaches this dashboard gets the role "+
			cfg.DevOpenRole+". For a developer's machine only; remove it anywhere else.", "role", cfg.DevOpenRole)
	}
	return a, nil
}

// loadKey reads the session signing key, or makes a random one.
func loadKey(path string) ([]byte, error) {
	if path == "" {
		return []byte(randomID(32)), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dashboard.auth.session_key_file: %w (create it with: head -c 48 /dev/urandom | base64 > FILE; chmod 600 FILE)", err)
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) < 32 {
		return nil, errors.New("dashboard.auth.session_key_file: the key must be at least 32 characters (head -c 48 /dev/urandom | base64)")
	}
	return key, nil
}

// Store is where accounts and kiosk tokens are kept.
func (a *Auth) Store() Store { return a.store }

// Audit is where audit events go; other dashboard handlers record theirs here.
func (a *Auth) Audit() audit.Sink { return a.audit }

// Run keeps the account cache fresh and writes the audit log until ctx ends.
func (a *Auth) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if a.writer != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.writer.Run(ctx) }()
	}
	if a.oidc != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.oidc.discover(ctx, a.log) }()
	}
	t := time.NewTicker(a.cfg.CacheTTL)
	defer t.Stop()
	for {
		a.refresh(ctx, false)
		select {
		case <-ctx.Done():
			wg.Wait()
			if s, ok := a.store.(*CHStore); ok {
				s.Close()
			}
			return nil
		case <-t.C:
		}
	}
}

// refresh reloads accounts and kiosk tokens; unless forced, not more often
// than once a second (a miss may force it: an unknown name or token).
func (a *Auth) refresh(ctx context.Context, onMiss bool) {
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	a.mu.RLock()
	recent := time.Since(a.loadedAt) < time.Second
	a.mu.RUnlock()
	if onMiss && recent {
		return
	}
	started := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	users, err := a.store.Users(rctx)
	var kiosks []Kiosk
	if err == nil {
		kiosks, err = a.store.Kiosks(rctx)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loadedAt = time.Now()
	if err != nil {
		if a.loadErr == nil && ctx.Err() == nil {
			a.log.Warn("cannot read accounts and kiosk tokens; keeping the last known ones", "err", err)
		}
		a.loadErr = err
		return
	}
	a.loadErr = nil
	oldUsers, oldKiosks := a.users, a.kiosks
	a.users = make(map[string]User, len(users))
	for _, u := range users {
		a.users[u.Username] = u
	}
	a.kiosks = make(map[string]Kiosk, len(kiosks))
	for _, k := range kiosks {
		a.kiosks[k.ID] = k
	}
	// A change made here while the load was under way may be newer than
	// what the load read: keep it (a revoked kiosk token must not come back
	// for a cache_ttl, nor a new account vanish).
	for key, at := range a.localAt {
		if at.Before(started) {
			delete(a.localAt, key)
			continue
		}
		if name, ok := strings.CutPrefix(key, "u:"); ok {
			if u, ok := oldUsers[name]; ok {
				a.users[name] = u
			}
		} else if k, ok := oldKiosks[strings.TrimPrefix(key, "k:")]; ok {
			a.kiosks[k.ID] = k
		}
	}
	now := time.Now().Unix()
	for sid, exp := range a.revoked {
		if exp < now {
			delete(a.revoked, sid)
		}
	}
	a.changed()
}

func (a *Auth) user(ctx context.Context, name string) (User, bool) {
	a.mu.RLock()
	u, ok := a.users[name]
	a.mu.RUnlock()
	if !ok {
		a.refresh(ctx, true)
		a.mu.RLock()
		u, ok = a.users[name]
		a.mu.RUnlock()
	}
	return u, ok
}

func (a *Auth) kiosk(ctx context.Context, id string) (Kiosk, bool) {
	a.mu.RLock()
	k, ok := a.kiosks[id]
	a.mu.RUnlock()
	if !ok {
		a.refresh(ctx, true)
		a.mu.RLock()
		k, ok = a.kiosks[id]
		a.mu.RUnlock()
	}
	return k, ok
}

// Users lists the accounts (without password hashes).
func (a *Auth) Users(ctx context.Context) ([]User, error) { return a.store.Users(ctx) }

// Kiosks lists the kiosk tokens (without secrets).
func (a *Auth) Kiosks(ctx context.Context) ([]Kiosk, error) { return a.store.Kiosks(ctx) }

// UserChange is a change of an account; nil fields are left as they are.
type UserChange struct {
	Username    string  `json:"username"`
	DisplayName *string `json:"display_name,omitempty"`
	Role        *Role   `json:"role,omitempty"`
	Password    *string `json:"password,omitempty"`
	Disabled    *bool   `json:"disabled,omitempty"`
}

// ErrInvalid is a change that breaks a rule (name, role, password policy).
var ErrInvalid = errors.New("invalid")

// SaveUser creates or changes an account and audits it as done by actor.
// A new account needs a role and a password.
func (a *Auth) SaveUser(ctx context.Context, c UserChange, actor Principal, remote string) (User, error) {
	rec := audit.Event{Actor: actor.Name, Role: string(actor.Role), Target: "user:" + c.Username, Remote: remote}
	u, err := a.applyUserChange(ctx, c, actor.Name)
	if err != nil {
		rec.Action, rec.Outcome, rec.Reason = "user.update", audit.Failed, err.Error()
		a.audit.Record(rec)
		return u, err
	}
	rec.Action, rec.Outcome, rec.Detail = "user.update", audit.OK, describeChange(c)
	if u.Epoch == 1 && c.Password != nil && c.Role != nil {
		rec.Action = "user.create"
	}
	a.audit.Record(rec)
	return u, nil
}

func describeChange(c UserChange) string {
	var parts []string
	if c.Role != nil {
		parts = append(parts, "role="+string(*c.Role))
	}
	if c.Disabled != nil {
		parts = append(parts, fmt.Sprintf("disabled=%v", *c.Disabled))
	}
	if c.Password != nil {
		parts = append(parts, "password changed")
	}
	if c.DisplayName != nil {
		parts = append(parts, "display name changed")
	}
	return strings.Join(parts, ", ")
}

func validUsername(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '@') {
			return false
		}
	}
	return true
}

func (a *Auth) applyUserChange(ctx context.Context, c UserChange, by string) (User, error) {
	if !validUsername(c.Username) {
		return User{}, fmt.Errorf("%w: user name %q: 2-64 of a-z 0-9 . _ - @", ErrInvalid, c.Username)
	}
	a.refresh(ctx, true)
	u, exists := a.user(ctx, c.Username)
	if !exists {
		if c.Role == nil || c.Password == nil {
			return User{}, fmt.Errorf("%w: a new account needs a role and a password", ErrInvalid)
		}
		u = User{Username: c.Username}
	}
	bump := !exists
	if c.DisplayName != nil {
		if len(*c.DisplayName) > 200 {
			return User{}, fmt.Errorf("%w: display name too long", ErrInvalid)
		}
		u.DisplayName = *c.DisplayName
	}
	if c.Role != nil {
		if !ValidRole(*c.Role) {
			return User{}, fmt.Errorf("%w: role %q is not operator, leadership, analyst or admin", ErrInvalid, *c.Role)
		}
		bump = bump || u.Role != *c.Role
		u.Role = *c.Role
	}
	if c.Password != nil {
		if err := CheckPasswordPolicy(*c.Password); err != nil {
			return User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		h, err := HashPassword(*c.Password)
		if err != nil {
			return User{}, err
		}
		u.PasswordHash, bump = h, true
	}
	if c.Disabled != nil {
		bump = bump || u.Disabled != *c.Disabled
		u.Disabled = *c.Disabled
	}
	if bump {
		u.Epoch++ // sessions issued before this change end
	}
	u.UpdatedBy, u.UpdatedMs = by, time.Now().UnixMilli()
	if err := a.store.PutUser(ctx, u); err != nil {
		return User{}, err
	}
	a.mu.Lock()
	a.users[u.Username] = u
	a.localAt["u:"+u.Username] = time.Now()
	a.mu.Unlock()
	a.changed()
	return u, nil
}

// CreateKiosk makes a kiosk token for a video wall and returns it; it is
// shown once and never stored in clear.
func (a *Auth) CreateKiosk(ctx context.Context, name string, actor Principal, remote string) (Kiosk, string, error) {
	if name == "" || len(name) > 100 {
		return Kiosk{}, "", fmt.Errorf("%w: a kiosk needs a name of at most 100 characters", ErrInvalid)
	}
	id, token, hash := newKioskToken()
	now := time.Now()
	k := Kiosk{ID: id, Name: name, SecretHash: hash, Scope: "wall", CreatedBy: actor.Name, CreatedMs: now.UnixMilli(),
		ExpiresMs: now.Add(a.cfg.KioskTTL).UnixMilli(), UpdatedBy: actor.Name}
	rec := audit.Event{Actor: actor.Name, Role: string(actor.Role), Action: "kiosk.create", Target: "kiosk:" + id, Remote: remote, Detail: "name=" + name}
	if err := a.store.PutKiosk(ctx, k); err != nil {
		rec.Outcome, rec.Reason = audit.Failed, err.Error()
		a.audit.Record(rec)
		return Kiosk{}, "", err
	}
	a.mu.Lock()
	a.kiosks[id] = k
	a.localAt["k:"+id] = time.Now()
	a.mu.Unlock()
	rec.Outcome = audit.OK
	a.audit.Record(rec)
	return k, token, nil
}

// RevokeKiosk ends a kiosk token at once on this instance and within
// cache_ttl on the others; the dashboard closes its open websockets
// (Revalidate) within revoke_within.
func (a *Auth) RevokeKiosk(ctx context.Context, id string, actor Principal, remote string) error {
	rec := audit.Event{Actor: actor.Name, Role: string(actor.Role), Action: "kiosk.revoke", Target: "kiosk:" + id, Remote: remote}
	k, ok := a.kiosk(ctx, id)
	if !ok {
		rec.Outcome, rec.Reason = audit.Failed, "no such kiosk token"
		a.audit.Record(rec)
		return fmt.Errorf("%w: no kiosk token %q", ErrInvalid, id)
	}
	k.Revoked, k.UpdatedBy = true, actor.Name
	if err := a.store.PutKiosk(ctx, k); err != nil {
		rec.Outcome, rec.Reason = audit.Failed, err.Error()
		a.audit.Record(rec)
		return err
	}
	a.mu.Lock()
	a.kiosks[id] = k
	a.localAt["k:"+id] = time.Now()
	a.mu.Unlock()
	a.changed()
	rec.Outcome = audit.OK
	a.audit.Record(rec)
	return nil
}
