package auth

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is the dashboard's access control (dashboard.auth in the YAML).
// The defaults are closed: nobody gets in without a session, a kiosk token
// or (with oidc) the city's identity provider.
type Config struct {
	// DevOpen lets anonymous visitors in with DevOpenRole. For a developer's
	// machine only (deploy/ioc.yaml sets it for `make run`): the dashboard's
	// configuration refuses it unless dashboard.listen is a loopback
	// address, and refuses DevOpenRole admin; the dashboard logs a warning
	// at every start while it is on.
	DevOpen     bool   `yaml:"dev_open"`
	DevOpenRole string `yaml:"dev_open_role"` // default operator
	// Store holds accounts and kiosk tokens: "clickhouse" (default; the
	// {database}_security tables, shared by every dashboard instance) or
	// "memory" (tests; lost at restart).
	Store string `yaml:"store"`
	// SessionTTL is the longest a sign-in lasts; IdleTimeout ends a session
	// unused for that long.
	SessionTTL  time.Duration `yaml:"session_ttl"`
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SessionKeyFile holds the key (32+ random bytes) that signs session
	// cookies. Every dashboard instance behind one name needs the same key;
	// without it each start makes a random key and sessions end at restart.
	SessionKeyFile string `yaml:"session_key_file"`
	// SecureCookies forces the Secure cookie attribute; it is set anyway
	// when the request came over TLS (or, with TrustProxy, the proxy says so).
	SecureCookies bool `yaml:"secure_cookies"`
	// TrustProxy takes the client address and scheme from X-Forwarded-For
	// and X-Forwarded-Proto. Only behind a reverse proxy that sets them.
	TrustProxy bool `yaml:"trust_proxy"`
	// KioskTTL is how long a new kiosk token is valid (default 365 days).
	KioskTTL time.Duration `yaml:"kiosk_ttl"`
	// CacheTTL bounds how long a revoked kiosk token, a disabled user or a
	// changed role keeps working on another dashboard instance.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// RevokeWithin bounds how long a credential that ended (a kiosk token
	// revoked or past its end, an account disabled, demoted or given a new
	// password, a sign-out, a session past session_ttl) keeps an open
	// websocket: the dashboard checks every connection again at least
	// every half of it, and at once when this instance sees a change. It
	// must be at most 30s and at least cache_ttl (how long another
	// instance's change takes to arrive here). Default 10s.
	RevokeWithin time.Duration `yaml:"revoke_within"`
	// MaxBodyBytes limits every request body (default 64 KiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Sign-in rate limits: attempts per minute from one address, and per
	// account name (both with a small burst).
	LoginPerIPPerMinute   int `yaml:"login_per_ip_per_minute"`
	LoginPerUserPerMinute int `yaml:"login_per_user_per_minute"`
	// Websocket client messages: at most WSMessagesPerSecond (burst 2×) and
	// WSMaxMessageBytes each; a client over either is disconnected.
	WSMessagesPerSecond int   `yaml:"ws_messages_per_second"`
	WSMaxMessageBytes   int64 `yaml:"ws_max_message_bytes"`
	// WSConnectionsPerPrincipal bounds the websockets one account or kiosk
	// token holds open at once (default 10); beyond, the upgrade is
	// answered 429. dev_open's anonymous visitors are bounded by
	// dashboard.max_clients only.
	WSConnectionsPerPrincipal int `yaml:"ws_connections_per_principal"`
	// Refusals (401, 403, 429 and refused sign-ins) are written to the
	// audit log one by one up to AuditRefusalsPerAddress a minute from one
	// client address (default 120) and AuditRefusalsPerMinute from all
	// (default 1200); beyond, as one summary row per address, action and
	// reason every 10 s with the count. Real events have a queue of their
	// own that refusals cannot fill (internal/audit).
	AuditRefusalsPerAddress int `yaml:"audit_refusals_per_address"`
	AuditRefusalsPerMinute  int `yaml:"audit_refusals_per_minute"`
	// OIDC, when Issuer is set, adds "sign in with the city's account".
	OIDC OIDCConfig `yaml:"oidc"`
}

// OIDCConfig is an OpenID Connect provider (the city's identity provider).
type OIDCConfig struct {
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is this dashboard's callback: https://wall.example/auth/oidc/callback
	RedirectURL string `yaml:"redirect_url"`
	// RolesClaim is the ID-token claim listing the user's groups or roles
	// (default "groups"); RoleMap maps its values to dashboard roles. A user
	// with no mapped value is refused.
	RolesClaim string            `yaml:"roles_claim"`
	RoleMap    map[string]string `yaml:"role_map"`
	// Scopes asked for (default openid, profile, email); add the one that
	// makes the provider put the roles claim in the ID token (often "groups").
	Scopes []string `yaml:"scopes"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DevOpenRole == "" {
		c.DevOpenRole = string(RoleOperator)
	}
	if c.Store == "" {
		c.Store = "clickhouse"
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.KioskTTL == 0 {
		c.KioskTTL = 365 * 24 * time.Hour
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = 5 * time.Second
	}
	if c.RevokeWithin == 0 {
		c.RevokeWithin = 10 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.LoginPerIPPerMinute == 0 {
		c.LoginPerIPPerMinute = 20
	}
	if c.LoginPerUserPerMinute == 0 {
		c.LoginPerUserPerMinute = 5
	}
	if c.WSMessagesPerSecond == 0 {
		c.WSMessagesPerSecond = 20
	}
	if c.WSConnectionsPerPrincipal == 0 {
		c.WSConnectionsPerPrincipal = 10
	}
	if c.WSMaxMessageBytes == 0 {
		c.WSMaxMessageBytes = 4096
	}
	if c.AuditRefusalsPerAddress == 0 {
		c.AuditRefusalsPerAddress = 120
	}
	if c.AuditRefusalsPerMinute == 0 {
		c.AuditRefusalsPerMinute = 1200
	}
	if c.OIDC.RolesClaim == "" {
		c.OIDC.RolesClaim = "groups"
	}
	if len(c.OIDC.Scopes) == 0 {
		c.OIDC.Scopes = []string{"openid", "profile", "email"}
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if !ValidRole(Role(c.DevOpenRole)) {
		return fmt.Errorf("dashboard.auth.dev_open_role: %q is not operator, leadership or analyst", c.DevOpenRole)
	}
	if Role(c.DevOpenRole) == RoleAdmin {
		return errors.New("dashboard.auth.dev_open_role: admin is refused: anonymous visitors would manage accounts, kiosk tokens, " +
			"devices and the audit log; sign in as an admin instead (ioc user add -name you -role admin)")
	}
	if c.Store != "clickhouse" && c.Store != "memory" {
		return fmt.Errorf("dashboard.auth.store: %q is not clickhouse or memory", c.Store)
	}
	switch {
	case c.SessionTTL < time.Minute || c.SessionTTL > 7*24*time.Hour:
		return fmt.Errorf("dashboard.auth.session_ttl: %s is outside 1m..168h", c.SessionTTL)
	case c.IdleTimeout < time.Minute || c.IdleTimeout > c.SessionTTL:
		return fmt.Errorf("dashboard.auth.idle_timeout: %s must lie between 1m and session_ttl", c.IdleTimeout)
	case c.KioskTTL < time.Hour:
		return fmt.Errorf("dashboard.auth.kiosk_ttl: %s is below 1h", c.KioskTTL)
	case c.CacheTTL < 100*time.Millisecond || c.CacheTTL > 5*time.Minute:
		return fmt.Errorf("dashboard.auth.cache_ttl: %s is outside 100ms..5m", c.CacheTTL)
	case c.RevokeWithin < time.Second || c.RevokeWithin > 30*time.Second:
		return fmt.Errorf("dashboard.auth.revoke_within: %s is outside 1s..30s", c.RevokeWithin)
	case c.CacheTTL > c.RevokeWithin:
		return fmt.Errorf("dashboard.auth.cache_ttl: %s exceeds revoke_within (%s): a credential revoked on another dashboard "+
			"instance would outlive the bound here; lower cache_ttl or raise revoke_within (at most 30s)", c.CacheTTL, c.RevokeWithin)
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("dashboard.auth.max_body_bytes: %d is below 1024", c.MaxBodyBytes)
	case c.LoginPerIPPerMinute < 1 || c.LoginPerUserPerMinute < 1:
		return errors.New("dashboard.auth.login_per_*_per_minute must be positive")
	case c.AuditRefusalsPerAddress < 1 || c.AuditRefusalsPerMinute < c.AuditRefusalsPerAddress:
		return fmt.Errorf("dashboard.auth.audit_refusals_per_address (%d) must be positive and audit_refusals_per_minute (%d) at least that",
			c.AuditRefusalsPerAddress, c.AuditRefusalsPerMinute)
	case c.WSConnectionsPerPrincipal < 1:
		return fmt.Errorf("dashboard.auth.ws_connections_per_principal: %d must be positive", c.WSConnectionsPerPrincipal)
	case c.WSMessagesPerSecond < 1 || c.WSMaxMessageBytes < 256:
		return errors.New("dashboard.auth.ws_messages_per_second must be positive and ws_max_message_bytes at least 256")
	}
	if o := c.OIDC; o.Issuer != "" {
		if u, err := url.Parse(o.Issuer); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("dashboard.auth.oidc.issuer: %q must be a URL", o.Issuer)
		}
		if o.ClientID == "" || o.RedirectURL == "" {
			return errors.New("dashboard.auth.oidc: client_id and redirect_url are required with issuer")
		}
		if len(o.RoleMap) == 0 {
			return errors.New("dashboard.auth.oidc.role_map: map at least one group of the identity provider to a role")
		}
		for g, r := range o.RoleMap {
			if !ValidRole(Role(r)) {
				return fmt.Errorf("dashboard.auth.oidc.role_map[%s]: %q is not a role", g, r)
			}
		}
	}
	return nil
}
