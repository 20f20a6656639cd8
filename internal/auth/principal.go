package auth

import (
	"net/http"
	"strings"
	"time"
)

// Cookie names.
const (
	sessionCookie = "ioc_session"
	kioskCookie   = "ioc_kiosk"
	loginCookie   = "ioc_login" // login form's anti-CSRF token (before a session exists)
	oidcCookie    = "ioc_oidc"  // state, nonce and PKCE verifier of an OIDC sign-in
)

// principal finds who makes the request: a session cookie, a kiosk token
// (cookie or Authorization: Bearer), or, with dev_open, "anonymous". A
// non-empty reason says why nobody was recognised; the principal then
// still names whoever the refused credential claimed to be, for the audit.
func (a *Auth) principal(w http.ResponseWriter, r *http.Request) (Principal, string) {
	var refused Principal
	reason := "no_credentials"
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		p, why := a.checkSession(w, r, c.Value)
		if why == "" {
			return p, ""
		}
		a.clearCookie(w, r, sessionCookie)
		refused, reason = p, why
	}
	tok := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	} else if c, err := r.Cookie(kioskCookie); err == nil {
		tok = c.Value
	}
	if tok != "" {
		p, why := a.checkKiosk(r, tok)
		if why == "" {
			return p, ""
		}
		refused, reason = p, why
	}
	if a.cfg.DevOpen && reason == "no_credentials" {
		return Principal{Kind: "anonymous", Name: "anonymous (dev_open)", Role: Role(a.cfg.DevOpenRole)}, ""
	}
	return refused, reason
}

func (a *Auth) checkSession(w http.ResponseWriter, r *http.Request, tok string) (Principal, string) {
	s, err := a.sign.open(tok)
	if err != nil {
		return Principal{}, "bad_session"
	}
	p := Principal{Kind: "user", Name: s.User, Role: s.Role, SID: s.SID, Exp: time.Unix(s.Exp, 0), Epoch: s.Epoch}
	if s.Kind == "oidc" {
		p.Kind = "oidc"
	}
	now := time.Now()
	switch {
	case now.Unix() >= s.Exp:
		return p, "session_expired"
	case now.Sub(time.Unix(s.Seen, 0)) > a.cfg.IdleTimeout:
		return p, "session_idle_timeout"
	}
	a.mu.RLock()
	_, out := a.revoked[s.SID]
	a.mu.RUnlock()
	if out {
		return p, "session_signed_out"
	}
	if s.Kind != "oidc" {
		u, ok := a.user(r.Context(), s.User)
		switch {
		case !ok:
			return p, "account_unknown"
		case u.Disabled:
			return p, "account_disabled"
		case u.Epoch != s.Epoch || u.Role != s.Role:
			return p, "session_revoked: the account changed"
		}
	}
	if now.Sub(time.Unix(s.Seen, 0)) > time.Minute { // slide the idle window
		s.Seen = now.Unix()
		a.setSessionCookie(w, r, s)
	}
	return p, ""
}

func (a *Auth) checkKiosk(r *http.Request, tok string) (Principal, string) {
	id, secret, ok := parseKioskToken(tok)
	if !ok {
		return Principal{Kind: "kiosk", Role: RoleKiosk, Name: "kiosk:?"}, "bad_kiosk_token"
	}
	p := Principal{Kind: "kiosk", Name: "kiosk:" + id, Role: RoleKiosk}
	k, found := a.kiosk(r.Context(), id)
	switch {
	case !found || !secretMatches(secret, k.SecretHash):
		return p, "bad_kiosk_token"
	case k.Revoked:
		return p, "kiosk_revoked"
	case k.ExpiresMs > 0 && time.Now().UnixMilli() >= k.ExpiresMs:
		return p, "kiosk_expired"
	case k.Scope != "wall":
		return p, "kiosk_scope"
	}
	p.Exp = time.UnixMilli(k.ExpiresMs)
	return p, ""
}

// newSession signs in a principal: a new session id and cookie.
func (a *Auth) newSession(w http.ResponseWriter, r *http.Request, name string, role Role, kind string, epoch uint32) Principal {
	now := time.Now()
	s := session{User: name, Role: role, Kind: kind, Epoch: epoch, SID: randomID(16), IAt: now.Unix(),
		Exp: now.Add(a.cfg.SessionTTL).Unix(), Seen: now.Unix()}
	a.setSessionCookie(w, r, s)
	return Principal{Kind: map[bool]string{true: "oidc", false: "user"}[kind == "oidc"], Name: name, Role: role, SID: s.SID,
		Exp: time.Unix(s.Exp, 0), Epoch: epoch}
}

// Revalidate checks again a principal that was let in earlier (an open
// websocket): it returns "" while the credential holds, else the reason it
// ended, as the audit log words it, and whether it was revoked (kiosk token
// revoked, account disabled, demoted, its password changed) rather than
// simply over (signed out, session or kiosk token past its end; sign in
// again). It reads the cached accounts and kiosk tokens only, which
// Run refreshes every cache_ttl; it never queries ClickHouse.
// Anonymous (dev_open), system and CLI principals are not revalidated.
func (a *Auth) Revalidate(p Principal) (reason string, revoked bool) {
	now := time.Now()
	switch p.Kind {
	case "kiosk":
		id := strings.TrimPrefix(p.Name, "kiosk:")
		a.mu.RLock()
		k, ok := a.kiosks[id]
		a.mu.RUnlock()
		switch {
		case !ok:
			return "kiosk_unknown", true
		case k.Revoked:
			return "kiosk_revoked", true
		case k.Scope != "wall":
			return "kiosk_scope", true
		case k.ExpiresMs > 0 && now.UnixMilli() >= k.ExpiresMs:
			return "kiosk_expired", false
		}
		return "", false
	case "user", "oidc":
		if !p.Exp.IsZero() && !now.Before(p.Exp) {
			return "session_expired", false
		}
		a.mu.RLock()
		_, out := a.revoked[p.SID]
		u, ok := a.users[p.Name]
		a.mu.RUnlock()
		if out {
			return "session_signed_out", false
		}
		if p.Kind == "oidc" {
			return "", false // the identity provider decides; the session's end bounds it
		}
		switch {
		case !ok:
			return "account_unknown", true
		case u.Disabled:
			return "account_disabled", true
		case u.Epoch != p.Epoch || u.Role != p.Role:
			return "session_revoked: the account changed", true
		}
	}
	return "", false
}

// Changes signals (without blocking, coalesced) whenever credentials may
// have ended: accounts and kiosk tokens reloaded, a kiosk token revoked or
// an account changed here, a sign-out. The dashboard then revalidates its
// open websockets at once instead of at its next tick.
func (a *Auth) Changes() <-chan struct{} { return a.changes }

func (a *Auth) changed() {
	select {
	case a.changes <- struct{}{}:
	default:
	}
}

func (a *Auth) setSessionCookie(w http.ResponseWriter, r *http.Request, s session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: a.sign.seal(s), Path: "/", HttpOnly: true,
		Secure: a.cfg.SecureCookies || a.overTLS(r), SameSite: http.SameSiteLaxMode, Expires: time.Unix(s.Exp, 0)})
}

func (a *Auth) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, MaxAge: -1,
		Secure: a.cfg.SecureCookies || a.overTLS(r), SameSite: http.SameSiteLaxMode})
}
