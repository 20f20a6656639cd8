package e2e

// Refusals of the dashboard's access control (docs/security.md), each one
// asserted on the wire and in the audit log in ClickHouse: a websocket
// without a token or from a foreign origin, a leadership account
// acknowledging an alert, a kiosk token outside the wall channel, an
// expired session, CSRF attempts, sign-in failures and their rate limit.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/internal/wstest"
)

// agent is a user agent string unique to one test, so that its audit rows
// can be told apart from every other test's.
func agent(t *testing.T) string { return "ioc-e2e/" + pipe.run + "/" + t.Name() }

// audited waits until the audit log holds a row of this test's agent with
// the action and outcome, and a reason starting with reason.
func audited(t *testing.T, ua, action, outcome, reason string) {
	t.Helper()
	auditedTarget(t, ua, action, outcome, reason, "")
}

// auditedTarget is audited for one target ("GET /api/kpis", "alert:a-1");
// empty matches any.
//
// A refusal (outcome denied or limited) beyond the per-address rate is
// written as part of a summary row (actor "aggregate", internal/audit),
// which keeps only the last refusal's user agent: the e2e suite makes many
// refusals from 127.0.0.1, so a summary of this action, outcome and reason
// written since the call counts too.
func auditedTarget(t *testing.T, ua, action, outcome, reason, target string) {
	t.Helper()
	since := time.Now().Add(-2 * time.Second).UnixMilli()
	refusal := outcome == "denied" || outcome == "limited"
	eventually(t, 15*time.Second, fmt.Sprintf("audit row %s %s %s %s", action, target, outcome, reason), func() (bool, string) {
		var n, agg uint64
		err := pipe.conn.QueryRow(context.Background(), "SELECT countIf(user_agent = ?), countIf(actor = 'aggregate' AND at_ms >= ?) FROM "+
			pipe.ch.SecurityTable("audit_log")+
			" WHERE action = ? AND outcome = ? AND startsWith(reason, ?) AND remote_addr = '127.0.0.1'"+
			" AND (? = '' OR target = ?)", ua, since, action, outcome, reason, target, target).Scan(&n, &agg)
		return err == nil && (n > 0 || refusal && agg > 0), fmt.Sprintf("%d rows, %d summaries, err %v", n, agg, err)
	})
}

// auditedWithin reports whether a row of this user agent with the action,
// outcome and reason appears in the audit log within d (polling).
func auditedWithin(ua, action, outcome, reason string, d time.Duration) bool {
	return testpoll.Poll(d, 200*time.Millisecond, func() bool {
		var n uint64
		err := pipe.conn.QueryRow(context.Background(), "SELECT count() FROM "+pipe.ch.SecurityTable("audit_log")+
			" WHERE user_agent = ? AND action = ? AND outcome = ? AND startsWith(reason, ?)", ua, action, outcome, reason).Scan(&n)
		return err == nil && n > 0
	})
}

// dialWS opens /ws with the given headers and query; it returns the HTTP
// status of a refused handshake (or 101).
func dialWS(t *testing.T, query string, h http.Header) (int, *websocket.Conn) {
	t.Helper()
	u := strings.Replace(pipe.wallURL, "http://", "ws://", 1) + "/ws" + query
	conn, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
		return http.StatusSwitchingProtocols, conn
	}
	if resp == nil {
		t.Fatalf("dialing %s: %v", u, err)
	}
	return resp.StatusCode, nil
}

func TestWebsocketWithoutTokenIsRefused(t *testing.T) {
	ua := agent(t)
	if code, _ := dialWS(t, "", http.Header{"User-Agent": {ua}}); code != http.StatusUnauthorized {
		t.Fatalf("websocket without credentials: status %d, want 401", code)
	}
	audited(t, ua, "ws.connect", "denied", "no_credentials")
	// A made-up token is no better.
	if code, _ := dialWS(t, "", http.Header{"User-Agent": {ua}, "Authorization": {"Bearer ik_0123456789ab.forged"}}); code != http.StatusUnauthorized {
		t.Fatalf("websocket with a forged kiosk token: status %d, want 401", code)
	}
	audited(t, ua, "ws.connect", "denied", "bad_kiosk_token")
}

func TestWebsocketFromForeignOriginIsRefused(t *testing.T) {
	ua := agent(t)
	h := http.Header{"User-Agent": {ua}, "Authorization": {"Bearer " + pipe.kiosk}, "Origin": {"https://evil.example"}}
	if code, _ := dialWS(t, "", h); code != http.StatusForbidden {
		t.Fatalf("websocket from https://evil.example: status %d, want 403", code)
	}
	audited(t, ua, "ws.connect", "denied", "foreign_origin")
	// The same token from the wall's own origin gets in.
	h.Set("Origin", pipe.wallURL)
	if code, _ := dialWS(t, "", h); code != http.StatusSwitchingProtocols {
		t.Fatalf("websocket from the wall's origin: status %d, want 101", code)
	}
	audited(t, ua, "ws.connect", "ok", "")
}

func TestKioskTokenOutsideTheWallChannelIsRefused(t *testing.T) {
	ua := agent(t)
	bearer := http.Header{"User-Agent": {ua}, "Authorization": {"Bearer " + pipe.kiosk}}
	for _, ch := range []string{"alerts", "kpi", "wall,alerts"} {
		if code, _ := dialWS(t, "?channels="+ch, bearer); code != http.StatusForbidden {
			t.Errorf("kiosk subscribing to %s: status %d, want 403", ch, code)
		}
	}
	audited(t, ua, "ws.connect", "denied", "kiosk_scope")
	if code, _ := dialWS(t, "?channels=wall", bearer); code != http.StatusSwitchingProtocols {
		t.Errorf("kiosk on the wall channel: status %d, want 101", code)
	}
	c := &http.Client{}
	for _, r := range []struct{ method, path, action, target string }{
		{"GET", "/api/kpis", "http.read", "GET /api/kpis"},
		{"GET", "/api/admin/users", "http.read", "GET /api/admin/users"},
		{"GET", "/api/admin/audit", "http.read", "GET /api/admin/audit"},
		{"POST", "/api/alerts/a-1/ack", "alert.ack", "alert:a-1"},
	} {
		req, _ := http.NewRequest(r.method, pipe.wallURL+r.path, strings.NewReader("{}"))
		req.Header = bearer.Clone()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("kiosk %s %s: status %d, want 403", r.method, r.path, resp.StatusCode)
		}
		auditedTarget(t, ua, r.action, "denied", "kiosk_scope", r.target)
	}
	// The wall's own data stays open to it.
	req, _ := http.NewRequest("GET", pipe.wallURL+"/api/latest", nil)
	req.Header = bearer.Clone()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("kiosk GET /api/latest: %v, want 200", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("kiosk GET /api/latest: %v, want 200", resp)
	}
}

// person is a signed-in browser: a cookie jar and the session's CSRF token.
type person struct {
	c      *http.Client
	ua     string
	csrf   string
	answer string // the body of the answer to its sign-in
}

// newAccount creates an account through the dashboard's access control.
func newAccount(t *testing.T, name string, role auth.Role) (string, string) {
	t.Helper()
	name = strings.ToLower(fmt.Sprintf("%s-%s", name, pipe.run))
	pw := "pw-" + pipe.run + "-long-enough"
	if _, err := pipe.dash.Auth().SaveUser(context.Background(), auth.UserChange{Username: name, Role: &role, Password: &pw},
		auth.Principal{Name: "e2e", Role: auth.RoleAdmin}, ""); err != nil {
		t.Fatal(err)
	}
	return name, pw
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in through the login form as a browser does; it returns the
// status of the form post (303 on success).
func login(t *testing.T, ua, name, pw string) (*person, int) {
	t.Helper()
	p, code, _ := loginTo(t, ua, name, pw, "/")
	return p, code
}

// loginTo is login with the form's next field; it also returns the answer's
// Location.
func loginTo(t *testing.T, ua, name, pw, next string) (*person, int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	p := &person{c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, ua: ua}
	resp := p.do(t, "GET", "/login", nil, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if m == nil {
		t.Fatalf("login page has no csrf field:\n%s", body)
	}
	form := url.Values{"username": {name}, "password": {pw}, "csrf": {string(m[1])}, "next": {next}}
	resp = p.do(t, "POST", "/login", strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {pipe.wallURL}})
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.answer = string(answer)
	if resp.StatusCode == http.StatusSeeOther {
		var me auth.Me
		r := p.do(t, "GET", "/api/me", nil, nil)
		if err := json.NewDecoder(r.Body).Decode(&me); err != nil || r.StatusCode != 200 {
			t.Fatalf("/api/me after sign-in: %d %v", r.StatusCode, err)
		}
		r.Body.Close()
		p.csrf = me.CSRF
	}
	return p, resp.StatusCode, resp.Header.Get("Location")
}

func (p *person) do(t *testing.T, method, path string, body io.Reader, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, pipe.wallURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", p.ua)
	resp, err := p.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// status is do's status code, body discarded.
func (p *person) status(t *testing.T, method, path string, h http.Header) int {
	t.Helper()
	resp := p.do(t, method, path, strings.NewReader(`{"note":"e2e"}`), h)
	resp.Body.Close()
	return resp.StatusCode
}

func TestLeadershipCannotAcknowledgeAnAlert(t *testing.T) {
	ua := agent(t)
	lname, lpw := newAccount(t, "lead", auth.RoleLeadership)
	oname, opw := newAccount(t, "oper", auth.RoleOperator)
	lead, code := login(t, ua, lname, lpw)
	if code != http.StatusSeeOther {
		t.Fatalf("leadership sign-in: %d", code)
	}
	audited(t, ua, "auth.login", "ok", "")
	h := http.Header{"X-CSRF-Token": {lead.csrf}, "Content-Type": {"application/json"}}
	if code := lead.status(t, "POST", "/api/alerts/alert-e2e-1/ack", h); code != http.StatusForbidden {
		t.Fatalf("leadership acknowledging: status %d, want 403", code)
	}
	audited(t, ua, "alert.ack", "denied", "role_not_allowed")
	// An operator passes the access check (the alert handler decides the rest).
	op, _ := login(t, ua, oname, opw)
	if code := op.status(t, "POST", "/api/alerts/alert-e2e-1/ack", http.Header{"X-CSRF-Token": {op.csrf}, "Content-Type": {"application/json"}}); code == http.StatusForbidden || code == http.StatusUnauthorized {
		t.Fatalf("operator acknowledging: status %d, the access policy refused an operator", code)
	}
	var n uint64
	eventually(t, 15*time.Second, "the operator's acknowledgement is audited under their name", func() (bool, string) {
		_ = pipe.conn.QueryRow(context.Background(), "SELECT count() FROM "+pipe.ch.SecurityTable("audit_log")+
			" WHERE user_agent = ? AND action = 'alert.ack' AND actor = ? AND target = 'alert:alert-e2e-1' AND outcome != 'denied'", ua, oname).Scan(&n)
		return n > 0, fmt.Sprint(n)
	})
}

func TestCSRFAttemptsAreRefused(t *testing.T) {
	ua := agent(t)
	name, pw := newAccount(t, "csrf", auth.RoleOperator)
	op, _ := login(t, ua, name, pw)
	json := http.Header{"Content-Type": {"application/json"}}
	if code := op.status(t, "POST", "/api/alerts/a-2/ack", json); code != http.StatusForbidden {
		t.Errorf("change without X-CSRF-Token: %d, want 403", code)
	}
	audited(t, ua, "alert.ack", "denied", "csrf_token_missing")
	if code := op.status(t, "POST", "/api/alerts/a-2/ack", http.Header{"X-CSRF-Token": {"forged"}, "Content-Type": {"application/json"}}); code != http.StatusForbidden {
		t.Errorf("change with a wrong X-CSRF-Token: %d, want 403", code)
	}
	audited(t, ua, "alert.ack", "denied", "csrf_token_mismatch")
	// What a foreign page can do: a cross-site form post with the victim's cookie.
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://evil.example"}}
	if code := op.status(t, "POST", "/api/alerts/a-2/ack", form); code != http.StatusForbidden {
		t.Errorf("cross-site form post: %d, want 403", code)
	}
	audited(t, ua, "alert.ack", "denied", "foreign_origin")
	// Login CSRF: a sign-in form posted without the form's own token.
	anon := &http.Client{}
	req, _ := http.NewRequest("POST", pipe.wallURL+"/login", strings.NewReader(url.Values{"username": {name}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", ua)
	resp, err := anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form token: %d, want 403", resp.StatusCode)
	}
	audited(t, ua, "auth.login", "denied", "csrf_token_mismatch")
}

// forgeSession signs a session cookie with the dashboard's key, as the
// dashboard would have issued it at issued, last used at seen.
func forgeSession(t *testing.T, user string, role auth.Role, epoch uint32, issued, exp, seen time.Time) *http.Cookie {
	t.Helper()
	key, err := os.ReadFile(pipe.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"u": user, "r": role, "k": "local", "e": epoch, "sid": "e2e-" + pipe.run,
		"iat": issued.Unix(), "exp": exp.Unix(), "seen": seen.Unix()})
	m := hmac.New(sha256.New, []byte(strings.TrimSpace(string(key))))
	m.Write([]byte("session\x00"))
	m.Write(body)
	b64 := base64.RawURLEncoding
	return &http.Cookie{Name: "ioc_session", Value: "v1." + b64.EncodeToString(body) + "." + b64.EncodeToString(m.Sum(nil))}
}

func TestExpiredSessionIsRefused(t *testing.T) {
	ua := agent(t)
	name, _ := newAccount(t, "expired", auth.RoleOperator)
	u, _ := pipe.dash.Auth().Users(context.Background())
	var epoch uint32
	for _, x := range u {
		if x.Username == name {
			epoch = x.Epoch
		}
	}
	now := time.Now()
	get := func(c *http.Cookie) int {
		req, _ := http.NewRequest("GET", pipe.wallURL+"/api/me", nil)
		req.Header.Set("User-Agent", ua)
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The control: the same cookie, fresh, is accepted (so the refusals
	// below are about time, not about the forgery).
	if code := get(forgeSession(t, name, auth.RoleOperator, epoch, now, now.Add(time.Hour), now)); code != http.StatusOK {
		t.Fatalf("a valid session: %d, want 200", code)
	}
	if code := get(forgeSession(t, name, auth.RoleOperator, epoch, now.Add(-9*time.Hour), now.Add(-time.Hour), now.Add(-time.Hour))); code != http.StatusUnauthorized {
		t.Errorf("a session past its end: %d, want 401", code)
	}
	audited(t, ua, "http.read", "denied", "session_expired")
	if code := get(forgeSession(t, name, auth.RoleOperator, epoch, now.Add(-2*time.Hour), now.Add(6*time.Hour), now.Add(-31*time.Minute))); code != http.StatusUnauthorized {
		t.Errorf("a session idle for 31 minutes: %d, want 401", code)
	}
	audited(t, ua, "http.read", "denied", "session_idle_timeout")
	// A session issued before the account changed (disabled, role or
	// password changed) ends with it.
	if code := get(forgeSession(t, name, auth.RoleAdmin, epoch, now, now.Add(time.Hour), now)); code != http.StatusUnauthorized {
		t.Errorf("a session claiming another role: %d, want 401", code)
	}
	audited(t, ua, "http.read", "denied", "session_revoked")
}

func TestSignInFailuresAreAuditedAndRateLimited(t *testing.T) {
	ua := agent(t)
	name, pw := newAccount(t, "limited", auth.RoleAnalyst)
	if _, code := login(t, ua, name, "wrong-password-here"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", code)
	}
	audited(t, ua, "auth.login", "denied", "wrong_password")
	if _, code := login(t, ua, "nobody-"+pipe.run, "whatever-it-is"); code != http.StatusUnauthorized {
		t.Fatalf("unknown account: %d, want 401", code)
	}
	audited(t, ua, "auth.login", "denied", "unknown_account")
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		_, code := login(t, ua, name, "wrong-password-here")
		limited = code == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("ten wrong passwords in a row were never rate limited")
	}
	audited(t, ua, "auth.login", "limited", "too_many_attempts")
	// The limit holds for the right password too, until it refills.
	if _, code := login(t, ua, name, pw); code != http.StatusTooManyRequests {
		t.Errorf("right password while limited: %d, want 429", code)
	}
}

func TestSecurityHeadersAndLimitsOnEveryResponse(t *testing.T) {
	ua := agent(t)
	name, pw := newAccount(t, "admin", auth.RoleAdmin)
	admin, code := login(t, ua, name, pw)
	if code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	for _, path := range []string{"/", "/login", "/admin", "/api/latest", "/api/me", "/api/admin/audit", "/nope"} {
		for _, who := range []*person{admin, {c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, ua: ua}} {
			resp := who.do(t, "GET", path, nil, nil)
			resp.Body.Close()
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") ||
				strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("GET %s (%d): Content-Security-Policy %q", path, resp.StatusCode, csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("GET %s (%d): X-Content-Type-Options %q, X-Frame-Options %q", path, resp.StatusCode,
					resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("X-Frame-Options"))
			}
		}
	}
	big := strings.NewReader(`{"name":"` + strings.Repeat("x", 1<<20) + `"}`)
	resp := admin.do(t, "POST", "/api/admin/kiosks", big, http.Header{"X-CSRF-Token": {admin.csrf}, "Content-Type": {"application/json"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB body: %d, want 413", resp.StatusCode)
	}
	// The admin's audit view shows the refusals of the other tests.
	resp = admin.do(t, "GET", "/api/admin/audit?outcome=denied&limit=50", nil, nil)
	var evs []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin audit view: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if len(evs) == 0 {
		t.Error("the admin audit view lists no refusals")
	}
	// Non-admins do not see it.
	oname, opw := newAccount(t, "noadmin", auth.RoleOperator)
	op, _ := login(t, ua, oname, opw)
	if code := op.status(t, "GET", "/api/admin/audit", nil); code != http.StatusForbidden {
		t.Errorf("operator reading the audit log: %d, want 403", code)
	}
	audited(t, ua, "http.read", "denied", "role_not_allowed")
}

func TestRevokedKioskAndDisabledAccountAreRefused(t *testing.T) {
	ua := agent(t)
	a := pipe.dash.Auth()
	admin := auth.Principal{Name: "e2e", Role: auth.RoleAdmin}
	k, tok, err := a.CreateKiosk(context.Background(), "e2e revoked "+pipe.run, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"User-Agent": {ua}, "Authorization": {"Bearer " + tok}}
	if code, _ := dialWS(t, "", h); code != http.StatusSwitchingProtocols {
		t.Fatalf("new kiosk token: %d, want 101", code)
	}
	if err := a.RevokeKiosk(context.Background(), k.ID, admin, ""); err != nil {
		t.Fatal(err)
	}
	if code, _ := dialWS(t, "", h); code != http.StatusUnauthorized {
		t.Fatalf("revoked kiosk token: %d, want 401", code)
	}
	audited(t, ua, "ws.connect", "denied", "kiosk_revoked")

	name, pw := newAccount(t, "disabled", auth.RoleOperator)
	p, _ := login(t, ua, name, pw)
	if code := p.status(t, "GET", "/api/me", nil); code != http.StatusOK {
		t.Fatalf("signed in: %d", code)
	}
	off := true
	if _, err := a.SaveUser(context.Background(), auth.UserChange{Username: name, Disabled: &off}, admin, ""); err != nil {
		t.Fatal(err)
	}
	if code := p.status(t, "GET", "/api/me", nil); code != http.StatusUnauthorized {
		t.Fatalf("session of a disabled account: %d, want 401", code)
	}
	audited(t, ua, "http.read", "denied", "account_disabled")
	// The right password of a disabled account is answered as a wrong one.
	if _, code := login(t, ua, name, pw); code != http.StatusUnauthorized {
		t.Fatalf("signing in to a disabled account: %d, want 401 as for a wrong password", code)
	}
	audited(t, ua, "auth.login", "denied", "account_disabled")
}

// A websocket client may not send large messages or many of them: over
// either limit it is disconnected with a close code saying why.
func TestWebsocketClientMessageLimits(t *testing.T) {
	h := http.Header{"User-Agent": {agent(t)}, "Authorization": {"Bearer " + pipe.kiosk}}
	closedWith := func(conn *websocket.Conn) int {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					return ce.Code
				}
				return -1
			}
		}
	}
	code, conn := dialWS(t, "", h)
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("kiosk websocket: %d", code)
	}
	_ = conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 64<<10)))
	if got := closedWith(conn); got != websocket.CloseMessageTooBig {
		t.Errorf("a 64 KiB message: closed with %d, want %d (message too big)", got, websocket.CloseMessageTooBig)
	}
	_, conn = dialWS(t, "", h)
	for i := 0; i < 200; i++ {
		if conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping"}`)) != nil {
			break
		}
	}
	if got := closedWith(conn); got != 4029 {
		t.Errorf("200 messages at once: closed with %d, want 4029 (too many messages, docs/websocket.md)", got)
	}
}

// Redirects stay on the site: after a real sign-in (an account in
// ClickHouse, the real server), a next that browsers would read as another
// site sends the person to /, and a path of the site is kept.
func TestSignInRedirectStaysOnTheSite(t *testing.T) {
	ua := agent(t)
	for i, c := range []struct{ next, want string }{
		{"/kpi/?lang=en", "/kpi/?lang=en"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/\t\\evil.example", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
	} {
		name, pw := newAccount(t, fmt.Sprintf("next%d", i), auth.RoleOperator) // the per-account sign-in limit is 5 a minute
		_, code, loc := loginTo(t, ua, name, pw, c.next)
		if code != http.StatusSeeOther || loc != c.want {
			t.Errorf("sign-in with next %q: %d to %q, want 303 to %q", c.next, code, loc, c.want)
		}
	}
	// The sign-in page keeps the link's next off the site too.
	anon := &person{c: &http.Client{}, ua: ua}
	resp := anon.do(t, "GET", "/login?next=%2F%09%2Fevil.example", nil, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `name="next" value="/"`) {
		t.Errorf("/login?next=%%2F%%09%%2Fevil.example: the form's next is not /:\n%s", body)
	}
}

// A disabled account and an account without a password answer exactly as
// a wrong password does, through the real sign-in.
func TestSignInFailuresLookAlike(t *testing.T) {
	ua := agent(t)
	a := pipe.dash.Auth()
	admin := auth.Principal{Name: "e2e", Role: auth.RoleAdmin}
	name, _ := newAccount(t, "alike", auth.RoleOperator)
	off, offPW := newAccount(t, "alike-off", auth.RoleOperator)
	yes := true
	if _, err := a.SaveUser(context.Background(), auth.UserChange{Username: off, Disabled: &yes}, admin, ""); err != nil {
		t.Fatal(err)
	}
	// An account kept without a password hash (one that signs in through
	// OIDC only), written to ClickHouse as any account is.
	nopw := strings.ToLower("alike-nopw-" + pipe.run)
	if err := a.Store().PutUser(context.Background(), auth.User{Username: nopw, Role: auth.RoleAdmin, Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	wrong, wcode := login(t, ua, name, "not-the-password")
	form := regexp.MustCompile(`name="csrf" value="[^"]*"`)
	for i, c := range []struct{ who, name, pw, reason string }{
		{"a disabled account with its right password", off, offPW, "account_disabled"},
		{"an account without a password, with the decoy's", nopw, "not-a-password-of-anyone", "no_password"},
		{"an account without a password, empty", nopw, "", "no_password"},
	} {
		// The dashboard learns of an account written to ClickHouse by
		// another process at its next reload (at most once a second on a
		// miss, else every cache_ttl); until then it answers as for an
		// unknown account, which looks alike too. The first sign-in with
		// the new account is tried again (at most three times: the
		// per-account sign-in limit is five a minute) until the audit log
		// says the dashboard knew it.
		for attempt := 1; ; attempt++ {
			p, code := login(t, ua, c.name, c.pw)
			if code != wcode || form.ReplaceAllString(p.answer, "") != form.ReplaceAllString(wrong.answer, "") {
				t.Errorf("%s: %d, want the answer to a wrong password (%d, same page)", c.who, code, wcode)
			}
			if i != 1 || attempt == 3 || auditedWithin(ua, "auth.login", "denied", c.reason, 3*time.Second) {
				break
			}
		}
		audited(t, ua, "auth.login", "denied", c.reason)
	}
}

// The wall's pages, read from the running dashboard, carry the strict
// Content-Security-Policy; /api/history refuses NaN and infinities.
func TestWallPagesStrictCSPAndFiniteHours(t *testing.T) {
	ua := agent(t)
	kiosk := http.Header{"Authorization": {"Bearer " + pipe.kiosk}}
	for _, path := range []string{"/", "/index.html", "/app.js", "/style.css"} {
		resp := (&person{c: &http.Client{}, ua: ua}).do(t, "GET", path, nil, kiosk)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || csp != auth.ContentSecurityPolicy || strings.Contains(csp, "ws:") ||
			!strings.Contains(csp, "object-src 'none'") || !strings.Contains(csp, "base-uri 'none'") {
			t.Errorf("GET %s (%d): Content-Security-Policy %q", path, resp.StatusCode, csp)
		}
	}
	name, pw := newAccount(t, "csp", auth.RoleLeadership)
	lead, _ := login(t, ua, name, pw)
	resp := lead.do(t, "GET", "/kpi/", nil, nil)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || csp != auth.ContentSecurityPolicy {
		t.Errorf("GET /kpi/ (%d): Content-Security-Policy %q", resp.StatusCode, csp)
	}
	for _, h := range []string{"NaN", "Inf", "-Inf", "infinity"} {
		resp := lead.do(t, "GET", "/api/history?metric=aqi&hours="+h, nil, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "bad_hours") {
			t.Errorf("hours=%s: %d %s, want 400 bad_hours", h, resp.StatusCode, body)
		}
	}
}

func watchWS(t *testing.T, query string, h http.Header) *wstest.Conn {
	t.Helper()
	h = h.Clone()
	h.Set("Origin", pipe.wallURL)
	code, conn := dialWS(t, query, h)
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("websocket /ws%s: %d, want 101", query, code)
	}
	return wstest.Watch(conn)
}

// revokeWithin is how long the dashboard of these tests may keep a
// websocket whose credential ended (dashboard.auth.revoke_within, default
// 10s); wstest adds a margin for a loaded machine.
const revokeWithin = 10 * time.Second

// cli is the access control as `ioc kiosk revoke` and `ioc user disable`
// run it: another process on the same ClickHouse, whose changes the
// dashboard learns only from ClickHouse.
func cli(t *testing.T) (*auth.Auth, auth.Principal) {
	t.Helper()
	a, err := auth.New(auth.Config{SessionKeyFile: pipe.keyFile}, auth.Options{ClickHouse: pipe.ch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, ok := a.Store().(*auth.CHStore); ok {
			s.Close()
		}
	})
	return a, auth.Principal{Kind: "cli", Name: "cli:e2e", Role: auth.RoleAdmin}
}

// Credentials that end, end everywhere at once: the open websocket of a
// kiosk token revoked from the command line, of an account disabled or
// demoted there, and of a session signed out or past its end is closed
// within dashboard.auth.revoke_within, with 4403 (revoked) or 4401 (over)
// and the reason; the others stay open.
func TestOpenWebsocketsEndWithTheirCredential(t *testing.T) {
	ua := agent(t)
	ctx := context.Background()
	admin := auth.Principal{Name: "e2e", Role: auth.RoleAdmin}
	k, tok, err := pipe.dash.Auth().CreateKiosk(ctx, "e2e revoked live "+pipe.run, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	bearer := http.Header{"User-Agent": {ua}, "Authorization": {"Bearer " + tok}}
	wall := watchWS(t, "?v=2&channels=wall", bearer)
	bare := watchWS(t, "", bearer) // /ws with no parameter: the wall channel
	others := watchWS(t, "?v=2&channels=wall", http.Header{"User-Agent": {ua}, "Authorization": {"Bearer " + pipe.kiosk}})

	c, by := cli(t)
	if err := c.RevokeKiosk(ctx, k.ID, by, ""); err != nil {
		t.Fatal(err)
	}
	wall.ClosedWith(t, revokeWithin, 4403, "kiosk_revoked")
	bare.ClosedWith(t, revokeWithin, 4403, "kiosk_revoked")
	others.Open(t)
	auditedTarget(t, "", "ws.close", "denied", "kiosk_revoked", "")

	cookies := func(p *person) http.Header {
		u, _ := url.Parse(pipe.wallURL)
		h := http.Header{"User-Agent": {ua}}
		for _, ck := range p.c.Jar.Cookies(u) {
			h.Add("Cookie", ck.Name+"="+ck.Value)
		}
		return h
	}
	dname, dpw := newAccount(t, "live-off", auth.RoleOperator)
	mname, mpw := newAccount(t, "live-demoted", auth.RoleOperator)
	oname, opw := newAccount(t, "live-out", auth.RoleOperator)
	dp, _ := login(t, ua, dname, dpw)
	mp, _ := login(t, ua, mname, mpw)
	op, _ := login(t, ua, oname, opw)
	disabled := watchWS(t, "?v=2&channels=wall,alerts", cookies(dp))
	demoted := watchWS(t, "?v=2&channels=wall,alerts", cookies(mp))
	signedOut := watchWS(t, "?v=2&channels=wall", cookies(op))

	// One command, one process: each change from a fresh access control,
	// which reads the accounts as they are now.
	yes, lead := true, auth.RoleLeadership
	c, by = cli(t)
	if _, err := c.SaveUser(ctx, auth.UserChange{Username: dname, Disabled: &yes}, by, ""); err != nil {
		t.Fatal(err)
	}
	c, by = cli(t)
	if _, err := c.SaveUser(ctx, auth.UserChange{Username: mname, Role: &lead}, by, ""); err != nil {
		t.Fatal(err)
	}
	disabled.ClosedWith(t, revokeWithin, 4403, "account_disabled")
	demoted.ClosedWith(t, revokeWithin, 4403, "session_revoked")
	if code := op.status(t, "POST", "/logout", http.Header{"X-CSRF-Token": {op.csrf}, "Origin": {pipe.wallURL}}); code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", code)
	}
	signedOut.ClosedWith(t, revokeWithin, 4401, "session_signed_out")
	others.Open(t)

	// A session that reaches its end with the wall open.
	ename, _ := newAccount(t, "live-ends", auth.RoleOperator)
	var epoch uint32
	users, _ := pipe.dash.Auth().Users(ctx)
	for _, u := range users {
		if u.Username == ename {
			epoch = u.Epoch
		}
	}
	now := time.Now()
	h := http.Header{"User-Agent": {ua}}
	h.Add("Cookie", forgeSession(t, ename, auth.RoleOperator, epoch, now, now.Add(3*time.Second), now).String())
	ends := watchWS(t, "?v=2&channels=wall", h)
	ends.ClosedWith(t, revokeWithin, 4401, "session_expired")
}

// Refusals are audited in aggregate per client address: a flood of 401s
// from one address (127.0.0.2 here, so that the other tests' address keeps
// its own budget) becomes at most audit_refusals_per_address rows one by
// one plus a summary row whose count makes up the rest, and a real event
// from the same address in the middle of the flood is written.
func TestRefusalFloodIsAuditedInAggregate(t *testing.T) {
	ua := agent(t)
	from := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	jar, _ := cookiejar.New(nil)
	p := &person{ua: ua, c: &http.Client{Jar: jar, Transport: &http.Transport{DialContext: from.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	const flood = 400
	name, pw := newAccount(t, "flooded", auth.RoleOperator)
	began := time.Now()
	for i := range flood {
		if code := p.status(t, "GET", "/api/latest", nil); code != http.StatusUnauthorized {
			t.Fatalf("request %d without credentials: %d", i, code)
		}
		if i == flood/2 { // a real event from the same address, amid the flood
			resp := p.do(t, "GET", "/login", nil, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			form := url.Values{"username": {name}, "password": {pw}, "csrf": {string(csrfField.FindSubmatch(body)[1])}, "next": {"/"}}
			resp = p.do(t, "POST", "/login", strings.NewReader(form.Encode()), http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {pipe.wallURL}})
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in amid the flood: %d", resp.StatusCode)
			}
			jar, _ = cookiejar.New(nil) // signed out again: the flood goes on without credentials
			p.c.Jar = jar
		}
	}
	q := "SELECT count(), sum(if(actor = 'aggregate', toUInt64OrZero(splitByChar(' ', detail)[1]), 1)) FROM " +
		pipe.ch.SecurityTable("audit_log") + " WHERE remote_addr = '127.0.0.2' AND user_agent = ? AND action = 'http.read' AND outcome = 'denied'"
	var rows, accounted uint64
	eventually(t, 30*time.Second, fmt.Sprintf("%d refusals accounted for in the audit log", flood), func() (bool, string) {
		err := pipe.conn.QueryRow(context.Background(), q, ua).Scan(&rows, &accounted)
		return err == nil && accounted == flood, fmt.Sprintf("%d rows accounting for %d, err %v", rows, accounted, err)
	})
	// The per-address bucket holds 120 and refills at 2 a second; the
	// summaries are written every 10 s. The bound follows from how long
	// the flood took on this machine, so that a slow run is not a failure.
	took := time.Since(began).Seconds()
	bound := uint64(120 + 2*took + took/10 + 2)
	t.Logf("%d refusals from one address in %.1f s: %d rows (bound %d)", flood, took, rows, bound)
	if rows > bound {
		t.Errorf("%d rows for %d refusals from one address in %.1f s; want at most %d (120 one by one, 2 a second more, a summary every 10 s)", rows, flood, took, bound)
	}
	var ok uint64
	if err := pipe.conn.QueryRow(context.Background(), "SELECT count() FROM "+pipe.ch.SecurityTable("audit_log")+
		" WHERE remote_addr = '127.0.0.2' AND user_agent = ? AND action = 'auth.login' AND outcome = 'ok'", ua).Scan(&ok); err != nil || ok != 1 {
		t.Errorf("the sign-in amid the flood: %d rows, err %v", ok, err)
	}
}

// One kiosk token holds at most ws_connections_per_principal (10)
// websockets on the real dashboard; the next is refused with 429 and
// audited as limited.
func TestWebsocketsPerKioskAreCapped(t *testing.T) {
	ua := agent(t)
	_, tok, err := pipe.dash.Auth().CreateKiosk(context.Background(), "e2e capped "+pipe.run, auth.Principal{Name: "e2e", Role: auth.RoleAdmin}, "")
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"User-Agent": {ua}, "Authorization": {"Bearer " + tok}}
	for i := range 10 {
		if code, _ := dialWS(t, "?v=2&channels=wall", h); code != http.StatusSwitchingProtocols {
			t.Fatalf("connection %d of 10: %d", i+1, code)
		}
	}
	if code, _ := dialWS(t, "?v=2&channels=wall", h); code != http.StatusTooManyRequests {
		t.Fatalf("connection 11: %d, want 429", code)
	}
	audited(t, ua, "ws.connect", "limited", "too_many_connections")
}
