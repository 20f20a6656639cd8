package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// The whole OpenID Connect sign-in against a provider (mockoidc): redirect
// with state, nonce and PKCE, code exchange, ID token check, groups mapped
// to a role, a session; a person whose groups map to no role is refused.
func TestOIDCSignIn(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Shutdown(); err != nil {
			t.Errorf("stopping the OIDC provider: %v", err)
		}
	})
	secret := filepath.Join(t.TempDir(), "oidc.secret")
	if err := os.WriteFile(secret, []byte(m.ClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &sink{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a, err := New(Config{Store: "memory", OIDC: OIDCConfig{Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecretFile: secret,
		RedirectURL: srv.URL + "/auth/oidc/callback", Scopes: []string{"openid", "profile", "groups"},
		RoleMap: map[string]string{"ioc-ops": "operator", "ioc-admins": "admin"}}}, Options{Audit: rec})
	if err != nil {
		t.Fatal(err)
	}
	a.Mount(mux)
	mux.HandleFunc("GET /api/latest", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	srv.Config.Handler = a.Handler(mux)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = a.Run(ctx) }()
	testpoll.Eventually(t, 10*time.Second, "provider discovery", func() (bool, string) {
		oc, err := a.oidc.ready()
		return oc != nil, fmt.Sprint(err)
	})
	signIn := func(groups []string) (*http.Client, int) {
		u := mockoidc.DefaultUser()
		u.Groups, u.PreferredUsername = groups, "tran.thi.b"
		m.QueueUser(u)
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Get(srv.URL + "/auth/oidc/login?next=/api/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return c, resp.StatusCode
	}
	c, code := signIn([]string{"ioc-ops", "other"})
	if code != http.StatusOK {
		t.Fatalf("OIDC sign-in ended with %d", code)
	}
	resp, err := c.Get(srv.URL + "/api/me")
	if err != nil {
		t.Fatal(err)
	}
	var me Me
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if me.Role != RoleOperator || me.Kind != "oidc" || me.Name != "oidc:tran.thi.b" || me.CSRF == "" {
		t.Errorf("signed in as %+v, want an oidc operator tran.thi.b with a CSRF token", me)
	}
	if _, code := signIn([]string{"engineering"}); code != http.StatusForbidden {
		t.Errorf("a person with no mapped group: %d, want 403", code)
	}
	var reasons []string
	for _, e := range rec.evs {
		if e.Action == "auth.login" && e.Target == "oidc" {
			reasons = append(reasons, e.Outcome+":"+e.Reason)
		}
	}
	if strings.Join(reasons, ",") != "ok:,denied:no_mapped_role" {
		t.Errorf("audit of OIDC sign-ins: %v", reasons)
	}
	// A callback without the state cookie (a forged or replayed link) is refused.
	resp, err = http.Get(srv.URL + "/auth/oidc/callback?" + url.Values{"state": {"x"}, "code": {"y"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("callback without state cookie: %d, want 403", resp.StatusCode)
	}
	_ = audit.OK
}
