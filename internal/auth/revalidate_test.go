package auth

import (
	"testing"
	"time"
)

// Revalidate, one line per way a credential ends (and a few that hold).
func TestRevalidate(t *testing.T) {
	a, err := New(Config{Store: "memory"}, Options{Audit: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.users = map[string]User{
		"an":   {Username: "an", Role: RoleOperator, Epoch: 3},
		"off":  {Username: "off", Role: RoleOperator, Epoch: 3, Disabled: true},
		"lead": {Username: "lead", Role: RoleLeadership, Epoch: 4},
	}
	a.kiosks = map[string]Kiosk{
		"k1": {ID: "k1", Scope: "wall", ExpiresMs: now.Add(time.Hour).UnixMilli()},
		"k2": {ID: "k2", Scope: "wall", Revoked: true},
		"k3": {ID: "k3", Scope: "wall", ExpiresMs: now.Add(-time.Second).UnixMilli()},
	}
	a.revoked = map[string]int64{"gone": now.Add(time.Hour).Unix()}
	later, past := now.Add(time.Hour), now.Add(-time.Second)
	for _, c := range []struct {
		p       Principal
		why     string
		revoked bool
	}{
		{Principal{Kind: "kiosk", Name: "kiosk:k1"}, "", false},
		{Principal{Kind: "kiosk", Name: "kiosk:k2"}, "kiosk_revoked", true},
		{Principal{Kind: "kiosk", Name: "kiosk:k3"}, "kiosk_expired", false},
		{Principal{Kind: "kiosk", Name: "kiosk:nope"}, "kiosk_unknown", true},
		{Principal{Kind: "user", Name: "an", Role: RoleOperator, Epoch: 3, SID: "s1", Exp: later}, "", false},
		{Principal{Kind: "user", Name: "an", Role: RoleOperator, Epoch: 3, SID: "s1", Exp: past}, "session_expired", false},
		{Principal{Kind: "user", Name: "an", Role: RoleOperator, Epoch: 3, SID: "gone", Exp: later}, "session_signed_out", false},
		{Principal{Kind: "user", Name: "an", Role: RoleOperator, Epoch: 2, SID: "s1", Exp: later}, "session_revoked", true},
		{Principal{Kind: "user", Name: "lead", Role: RoleOperator, Epoch: 4, SID: "s1", Exp: later}, "session_revoked", true}, // demoted
		{Principal{Kind: "user", Name: "off", Role: RoleOperator, Epoch: 3, SID: "s1", Exp: later}, "account_disabled", true},
		{Principal{Kind: "user", Name: "nobody", Role: RoleOperator, SID: "s1", Exp: later}, "account_unknown", true},
		{Principal{Kind: "oidc", Name: "oidc:b", Role: RoleAdmin, SID: "s2", Exp: later}, "", false},
		{Principal{Kind: "oidc", Name: "oidc:b", Role: RoleAdmin, SID: "s2", Exp: past}, "session_expired", false},
		{Principal{Kind: "oidc", Name: "oidc:b", Role: RoleAdmin, SID: "gone", Exp: later}, "session_signed_out", false},
		{Principal{Kind: "anonymous", Name: "anonymous (dev_open)", Role: RoleOperator}, "", false},
	} {
		why, revoked := a.Revalidate(c.p)
		if len(why) < len(c.why) || why[:len(c.why)] != c.why || c.why == "" && why != "" || revoked != c.revoked {
			t.Errorf("%s %s (epoch %d, sid %s): %q revoked=%v, want %q revoked=%v", c.p.Kind, c.p.Name, c.p.Epoch, c.p.SID, why, revoked, c.why, c.revoked)
		}
	}
}

// cache_ttl may not outlast revoke_within, which may not exceed 30 s.
func TestRevokeWithinBounds(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{RevokeWithin: 30 * time.Second, CacheTTL: 30 * time.Second}, true},
		{Config{RevokeWithin: 31 * time.Second}, false},
		{Config{RevokeWithin: 10 * time.Second, CacheTTL: 20 * time.Second}, false},
		{Config{RevokeWithin: 500 * time.Millisecond, CacheTTL: 200 * time.Millisecond}, false},
	} {
		c.cfg.Defaults()
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("revoke_within %s, cache_ttl %s: %v, want ok=%v", c.cfg.RevokeWithin, c.cfg.CacheTTL, err, c.ok)
		}
	}
}
