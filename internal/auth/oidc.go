package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sonla-ioc/ioc/internal/audit"
)

// oidcProvider signs people in with the city's identity provider
// (authorization code flow with PKCE, state and nonce). Its discovery runs
// in the background and is retried, so the dashboard starts while the
// provider is unreachable; until then the OIDC button answers 503.
type oidcProvider struct {
	cfg      OIDCConfig
	mu       sync.RWMutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDC(cfg OIDCConfig) *oidcProvider { return &oidcProvider{cfg: cfg} }

func (o *oidcProvider) discover(ctx context.Context, log *slog.Logger) {
	secret := ""
	if o.cfg.ClientSecretFile != "" {
		b, err := os.ReadFile(o.cfg.ClientSecretFile)
		if err != nil {
			log.Error("OIDC sign-in disabled: reading dashboard.auth.oidc.client_secret_file", "err", err)
			return
		}
		secret = strings.TrimSpace(string(b))
	}
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
		if err == nil {
			o.mu.Lock()
			o.oauth = &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: secret, Endpoint: p.Endpoint(),
				RedirectURL: o.cfg.RedirectURL, Scopes: o.cfg.Scopes}
			o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
			o.mu.Unlock()
			log.Info("OIDC sign-in ready", "issuer", o.cfg.Issuer)
			return
		}
		log.Warn("OIDC provider discovery failed; retrying", "issuer", o.cfg.Issuer, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (o *oidcProvider) ready() (*oauth2.Config, *oidc.IDTokenVerifier) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.oauth, o.verifier
}

// oidcState travels in a signed, short-lived cookie between the redirect to
// the provider and the callback.
type oidcState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Exp      int64  `json:"e"`
}

func (a *Auth) serveOIDCLogin(w http.ResponseWriter, r *http.Request) {
	oc, _ := a.oidc.ready()
	if oc == nil {
		http.Error(w, "the identity provider is not reachable yet; try again shortly or sign in with a local account", http.StatusServiceUnavailable)
		return
	}
	st := oidcState{State: randomID(16), Nonce: randomID(16), Verifier: oauth2.GenerateVerifier(),
		Next: SafeNext(r.URL.Query().Get("next")), Exp: time.Now().Add(10 * time.Minute).Unix()}
	body, _ := json.Marshal(st)
	val := b64.EncodeToString(body) + "." + b64.EncodeToString(a.sign.mac("oidc", body))
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: val, Path: "/auth/oidc/", HttpOnly: true, MaxAge: 600,
		Secure: a.cfg.SecureCookies || a.overTLS(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

func (a *Auth) serveOIDCCallback(w http.ResponseWriter, r *http.Request) {
	rec := audit.Event{Action: "auth.login", Target: "oidc", Remote: a.clientIP(r), UserAgent: r.UserAgent()}
	refuse := func(reason string) {
		rec.Outcome, rec.Reason = audit.Denied, reason
		a.audit.Record(rec)
		a.m.logins.WithLabelValues(audit.Denied).Inc()
		a.renderLogin(w, r, http.StatusForbidden, "/", "login.err.oidc", reason)
	}
	oc, verifier := a.oidc.ready()
	if oc == nil {
		refuse("provider_unavailable")
		return
	}
	st, ok := a.readOIDCState(r)
	a.clearCookie(w, r, oidcCookie)
	switch {
	case !ok:
		refuse("bad_state_cookie")
		return
	case r.URL.Query().Get("state") != st.State:
		refuse("state_mismatch")
		return
	case r.URL.Query().Get("error") != "":
		refuse("provider_error: " + r.URL.Query().Get("error"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		refuse("code_exchange_failed")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		refuse("bad_id_token")
		return
	}
	if idt.Nonce != st.Nonce {
		refuse("nonce_mismatch")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		refuse("bad_claims")
		return
	}
	name := idt.Subject
	for _, k := range []string{"preferred_username", "email"} {
		if v, ok := claims[k].(string); ok && v != "" {
			name = v
			break
		}
	}
	rec.Actor = "oidc:" + name
	role := mapRole(claims[a.cfg.OIDC.RolesClaim], a.cfg.OIDC.RoleMap)
	if role == "" {
		refuse("no_mapped_role")
		return
	}
	p := a.newSession(w, r, "oidc:"+name, role, "oidc", 0)
	rec.Role, rec.Outcome, rec.Detail = string(role), audit.OK, "session "+p.SID[:8]
	a.audit.Record(rec)
	a.m.logins.WithLabelValues(audit.OK).Inc()
	http.Redirect(w, r, st.Next, http.StatusSeeOther)
}

func (a *Auth) readOIDCState(r *http.Request) (oidcState, bool) {
	var st oidcState
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return st, false
	}
	body64, sig64, ok := strings.Cut(c.Value, ".")
	body, err1 := b64.DecodeString(body64)
	sig, err2 := b64.DecodeString(sig64)
	if !ok || err1 != nil || err2 != nil || sha256.Size != len(sig) || !hmacEqual(sig, a.sign.mac("oidc", body)) {
		return st, false
	}
	if json.Unmarshal(body, &st) != nil || time.Now().Unix() > st.Exp {
		return st, false
	}
	return st, true
}

// rolePriority picks the strongest role when several groups map.
var rolePriority = []Role{RoleAdmin, RoleOperator, RoleLeadership, RoleAnalyst}

// mapRole maps a roles/groups claim (a string or a list) to a role.
func mapRole(claim any, m map[string]string) Role {
	var vals []string
	switch v := claim.(type) {
	case string:
		vals = strings.Fields(strings.ReplaceAll(v, ",", " "))
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				vals = append(vals, s)
			}
		}
	}
	got := map[Role]bool{}
	for _, v := range vals {
		if r, ok := m[v]; ok {
			got[Role(r)] = true
		}
	}
	for _, r := range rolePriority {
		if got[r] {
			return r
		}
	}
	return ""
}

func (o OIDCConfig) String() string { return fmt.Sprintf("oidc(%s, client %s)", o.Issuer, o.ClientID) }
