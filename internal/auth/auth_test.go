package auth

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/audit"
)

// The policy, one line per route: who may do what. A route nobody listed
// is a read for the wall or a change for admins, never open.
func TestPolicyTable(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         Permission
	}{
		{"GET", "/login", PermPublic},
		{"POST", "/login", PermPublic},
		{"GET", "/kiosk", PermPublic},
		{"GET", "/auth/static/auth.css", PermPublic},
		{"GET", "/lib/i18n.js", PermPublic},
		{"GET", "/wall/map.js", PermWall},
		{"GET", "/", PermWall},
		{"GET", "/app.js", PermWall},
		{"GET", "/ws", PermWall},
		{"GET", "/api/latest", PermWall},
		{"POST", "/api/alerts/a1/ack", PermAck},
		{"GET", "/api/alerts", PermAlertsView},
		{"GET", "/api/kpis", PermKPI},
		{"GET", "/kpi", PermKPI},
		{"GET", "/admin", PermAdmin},
		{"POST", "/api/admin/users", PermAdmin},
		{"GET", "/api/admin/audit", PermAdmin},
		{"POST", "/logout", PermSignedIn},
		{"GET", "/api/me", PermSignedIn},
		{"POST", "/api/devices/x", PermAdmin}, // unlisted change
		{"DELETE", "/api/rules/r1", PermAdmin},
		{"PUT", "/", PermAdmin},
		{"GET", "/something/new", PermWall}, // unlisted read
		{"POST", "/kiosk", PermAdmin},       // only GET /kiosk is public
	} {
		if got := matchRule(c.method, c.path).perm; got != c.want {
			t.Errorf("%s %s needs %s, want %s", c.method, c.path, got, c.want)
		}
	}
}

func TestRolesAndChannels(t *testing.T) {
	for _, c := range []struct {
		role Role
		perm Permission
		want bool
	}{
		{RoleOperator, PermAck, true},
		{RoleLeadership, PermAck, false},
		{RoleLeadership, PermKPI, true},
		{RoleAnalyst, PermAck, false},
		{RoleAnalyst, PermAdmin, false},
		{RoleAdmin, PermAdmin, true},
		{RoleKiosk, PermWall, true},
		{RoleKiosk, PermKPI, false},
		{RoleKiosk, PermAlertsView, false},
		{"", PermSignedIn, false},
		{"", PermWall, false},
	} {
		if got := c.role.Can(c.perm); got != c.want {
			t.Errorf("%q can %s: %v, want %v", c.role, c.perm, got, c.want)
		}
	}
	for _, c := range []struct {
		role    Role
		channel string
		want    bool
	}{
		{RoleKiosk, "wall", true},
		{RoleKiosk, "alerts", false},
		{RoleKiosk, "kpi", false},
		{RoleKiosk, "device:aq-1", false},
		{RoleOperator, "device:aq-1", true},
		{RoleLeadership, "kpi", true},
		{RoleAnalyst, "alerts", false},
		{RoleAdmin, "no-such-channel", false},
	} {
		if got := c.role.CanSubscribe(c.channel); got != c.want {
			t.Errorf("%q subscribes %s: %v, want %v", c.role, c.channel, got, c.want)
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if VerifyPassword(h, pw) != want {
			t.Errorf("verify %q: %v", pw, !want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$aGFzaA", h[:len(h)-3] + "!!!"} {
		if VerifyPassword(bad, "x") {
			t.Errorf("malformed hash %q verified", bad)
		}
	}
	if CheckPasswordPolicy("short") == nil || CheckPasswordPolicy("twelve chars") != nil {
		t.Error("password policy: 12 characters minimum")
	}
}

func TestSessionTokensCannotBeForged(t *testing.T) {
	s := signer{key: []byte("k1-0123456789abcdef0123456789abcdef")}
	tok := s.seal(session{User: "an", Role: RoleOperator, SID: "sid1", Exp: 10})
	if v, err := s.open(tok); err != nil || v.User != "an" || v.Role != RoleOperator {
		t.Fatalf("open own token: %+v %v", v, err)
	}
	other := signer{key: []byte("k2-0123456789abcdef0123456789abcdef")}
	if _, err := other.open(tok); err == nil {
		t.Error("a token signed with another key was accepted")
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + b64.EncodeToString([]byte(`{"u":"an","r":"admin","sid":"sid1","exp":10}`)) + "." + parts[2]
	if _, err := s.open(forged); err == nil {
		t.Error("a token with a changed role was accepted")
	}
	if s.checkCSRF("sid1", s.csrf("sid2")) || !s.checkCSRF("sid1", s.csrf("sid1")) || s.checkCSRF("sid1", "") {
		t.Error("CSRF tokens are not bound to their session")
	}
	id, tokK, hash := newKioskToken()
	gid, secret, ok := parseKioskToken(tokK)
	if !ok || gid != id || !secretMatches(secret, hash) || secretMatches(secret+"x", hash) || strings.Contains(hash, secret) {
		t.Errorf("kiosk token %q does not round-trip", tokK)
	}
}

func TestSignInLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(6, 3, 4) // 6 a minute, burst 3, 4 keys
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if !l.allow("a") {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	if l.allow("a") {
		t.Fatal("fourth attempt in a row allowed")
	}
	now = now.Add(10 * time.Second) // one token back
	if !l.allow("a") || l.allow("a") {
		t.Fatal("refill: one attempt per 10 s")
	}
	for _, k := range []string{"b", "c", "d", "e", "f", "g"} {
		l.allow(k)
	}
	if len(l.buckets) > 4 {
		t.Errorf("%d keys kept, bound is 4", len(l.buckets))
	}
}

type sink struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (s *sink) Record(e audit.Event) { s.mu.Lock(); s.evs = append(s.evs, e); s.mu.Unlock() }

// The middleware without any service: closed by default, dev_open only
// when asked, and a refusal is always recorded.
func TestClosedByDefault(t *testing.T) {
	for _, devOpen := range []bool{false, true} {
		rec := &sink{}
		a, err := New(Config{Store: "memory", DevOpen: devOpen}, Options{Audit: rec})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		a.Mount(mux)
		mux.HandleFunc("GET /api/latest", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
		h := a.Handler(mux)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/latest", nil))
		want := http.StatusUnauthorized
		if devOpen {
			want = http.StatusOK
		}
		if w.Code != want {
			t.Errorf("dev_open=%v: GET /api/latest without credentials: %d, want %d", devOpen, w.Code, want)
		}
		if !devOpen && (len(rec.evs) != 1 || rec.evs[0].Outcome != audit.Denied || rec.evs[0].Reason != "no_credentials") {
			t.Errorf("refusal not audited: %+v", rec.evs)
		}
		// Admin stays closed even with dev_open (its role is operator).
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/admin/users", nil))
		if w.Code != http.StatusUnauthorized && w.Code != http.StatusForbidden {
			t.Errorf("dev_open=%v: admin API without credentials: %d", devOpen, w.Code)
		}
	}
	if _, err := New(Config{Store: "memory", DevOpenRole: "root"}, Options{}); err == nil {
		t.Error("an unknown dev_open_role was accepted")
	}
	_ = context.Background
}

func TestOIDCRoleMapping(t *testing.T) {
	m := map[string]string{"ioc-ops": "operator", "ioc-admins": "admin", "lanh-dao": "leadership"}
	for _, c := range []struct {
		claim any
		want  Role
	}{
		{[]any{"ioc-ops"}, RoleOperator},
		{[]any{"lanh-dao", "ioc-admins"}, RoleAdmin},
		{"lanh-dao", RoleLeadership},
		{[]any{"someone-else"}, ""},
		{nil, ""},
	} {
		if got := mapRole(c.claim, m); got != c.want {
			t.Errorf("claim %v: role %q, want %q", c.claim, got, c.want)
		}
	}
}

// Cookies are HttpOnly and SameSite always, Secure over TLS (or behind a
// trusted proxy that says https); HSTS only then.
func TestCookieAttributes(t *testing.T) {
	for _, c := range []struct {
		name       string
		cfg        Config
		tls, proxy bool
		secure     bool
	}{
		{"plain http", Config{}, false, false, false},
		{"tls", Config{}, true, false, true},
		{"untrusted proxy header", Config{}, false, true, false},
		{"trusted proxy", Config{TrustProxy: true}, false, true, true},
		{"forced", Config{SecureCookies: true}, false, false, true},
	} {
		c.cfg.Store = "memory"
		a, err := New(c.cfg, Options{Audit: &sink{}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		a.Mount(mux)
		req := httptest.NewRequest("GET", "/login", nil)
		if c.tls {
			req.TLS = &tls.ConnectionState{}
		}
		if c.proxy {
			req.Header.Set("X-Forwarded-Proto", "https")
		}
		w := httptest.NewRecorder()
		a.Handler(mux).ServeHTTP(w, req)
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite == http.SameSiteDefaultMode || cookies[0].Secure != c.secure {
			t.Errorf("%s: cookie %+v, want HttpOnly, SameSite, Secure=%v", c.name, cookies, c.secure)
		}
		if hsts := w.Header().Get("Strict-Transport-Security") != ""; hsts != (c.tls || c.proxy && c.cfg.TrustProxy) {
			t.Errorf("%s: HSTS sent %v", c.name, hsts)
		}
	}
}
