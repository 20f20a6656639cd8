package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/internal/wstest"
)

// dialWith opens /ws<query> on srv with the headers h and the page's origin.
func dialWith(t *testing.T, srv *httptest.Server, query string, h http.Header) *wstest.Conn {
	t.Helper()
	h = h.Clone()
	h.Set("Origin", srv.URL)
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws"+query, h)
	if err != nil {
		t.Fatalf("dial /ws%s: %v (%v)", query, err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	return wstest.Watch(conn)
}

var formToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signInHTTP signs in through the login form and returns the cookie jar's
// session cookie and the CSRF token of /api/me.
func signInHTTP(t *testing.T, srv *httptest.Server, name, pw string) (*http.Client, http.Header, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formToken.FindSubmatch(b)
	if m == nil {
		t.Fatal("no form token on /login")
	}
	req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(url.Values{"username": {name}, "password": {pw},
		"csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err = c.Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in of %s: %v %v", name, resp, err)
	}
	resp.Body.Close()
	u, _ := url.Parse(srv.URL)
	h := http.Header{}
	for _, ck := range jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	resp, err = c.Get(srv.URL + "/api/me")
	if err != nil {
		t.Fatal(err)
	}
	var me auth.Me
	_ = jsonDecode(resp.Body, &me)
	resp.Body.Close()
	return c, h, me.CSRF
}

// An open websocket whose credential ends is closed within revoke_within
// with a code saying why: a revoked kiosk token, a disabled or
// demoted account, a sign-out. Connections whose credential holds stay.
func TestOpenWebsocketsEndWithTheirCredential(t *testing.T) {
	s, srv := v2Server(t, WallConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.revalidate(ctx)
	bound := s.cfg.Auth.RevokeWithin
	admin := auth.Principal{Name: "test", Role: auth.RoleAdmin}
	a := s.Auth()

	k1, tok1, err := a.CreateKiosk(ctx, "wall 1", admin, "")
	if err != nil {
		t.Fatal(err)
	}
	_, tok2, _ := a.CreateKiosk(ctx, "wall 2", admin, "")
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	v2 := dialWith(t, srv, "?v=2&channels=wall", bearer(tok1))
	bare := dialWith(t, srv, "", bearer(tok1)) // /ws with no parameter: the wall channel
	other := dialWith(t, srv, "?v=2&channels=wall", bearer(tok2))
	if err := a.RevokeKiosk(ctx, k1.ID, admin, ""); err != nil {
		t.Fatal(err)
	}
	v2.ClosedWith(t, bound, closeCredentialRevoked, "kiosk_revoked")
	bare.ClosedWith(t, bound, closeCredentialRevoked, "kiosk_revoked")
	other.Open(t)

	pw := "a-long-enough-password"
	for _, name := range []string{"op-disabled", "op-demoted", "op-out", "op-stays"} {
		role := auth.RoleOperator
		if _, err := a.SaveUser(ctx, auth.UserChange{Username: name, Role: &role, Password: &pw}, admin, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, hd, _ := signInHTTP(t, srv, "op-disabled", pw)
	_, hm, _ := signInHTTP(t, srv, "op-demoted", pw)
	out, ho, csrf := signInHTTP(t, srv, "op-out", pw)
	_, hs, _ := signInHTTP(t, srv, "op-stays", pw)
	disabled := dialWith(t, srv, "?v=2&channels=wall,alerts", hd)
	demoted := dialWith(t, srv, "?v=2&channels=wall,alerts", hm)
	signedOut := dialWith(t, srv, "?channels=kpi", ho) // as the KPI page
	stays := dialWith(t, srv, "?v=2&channels=wall", hs)

	yes, lead := true, auth.RoleLeadership
	if _, err := a.SaveUser(ctx, auth.UserChange{Username: "op-disabled", Disabled: &yes}, admin, ""); err != nil {
		t.Fatal(err)
	}
	disabled.ClosedWith(t, bound, closeCredentialRevoked, "account_disabled")
	if _, err := a.SaveUser(ctx, auth.UserChange{Username: "op-demoted", Role: &lead}, admin, ""); err != nil {
		t.Fatal(err)
	}
	demoted.ClosedWith(t, bound, closeCredentialRevoked, "session_revoked")
	req, _ := http.NewRequest("POST", srv.URL+"/logout", nil)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", srv.URL)
	resp, err := out.Do(req)
	if err != nil {
		t.Fatalf("sign-out: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %v", resp)
	}
	signedOut.ClosedWith(t, bound, closeCredentialEnded, "session_signed_out")
	stays.Open(t)
	other.Open(t)
}

// A session that reaches its end (session_ttl) with the wall open is
// closed by the periodic check, with nobody changing anything.
func TestOpenWebsocketEndsWithItsSession(t *testing.T) {
	s, srv := v2Server(t, WallConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.revalidate(ctx)
	a := s.Auth()
	pw, role := "a-long-enough-password", auth.RoleOperator
	if _, err := a.SaveUser(ctx, auth.UserChange{Username: "short", Role: &role, Password: &pw}, auth.Principal{Name: "test"}, ""); err != nil {
		t.Fatal(err)
	}
	_, h, _ := signInHTTP(t, srv, "short", pw)
	// The same session, as the policy let it in, ending in two seconds.
	c := dialWith(t, srv, "?v=2&channels=wall", h)
	var sess *session
	testpoll.Eventually(t, 10*time.Second, "the session is registered", func() (bool, string) {
		s.v2.mu.Lock()
		defer s.v2.mu.Unlock()
		for x := range s.v2.sessions {
			sess = x
		}
		return sess != nil, ""
	})
	sess.mu.Lock()
	sess.who.Exp = time.Now().Add(2 * time.Second)
	sess.mu.Unlock()
	c.ClosedWith(t, 2*time.Second+s.cfg.Auth.RevokeWithin, closeCredentialEnded, "session_expired")
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
