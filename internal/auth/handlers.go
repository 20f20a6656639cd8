package auth

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/export"
)

//go:embed web
var webFS embed.FS

var loginPage = template.Must(template.ParseFS(webFS, "web/login.html"))

// WebFiles are the sign-in and administration pages and their assets,
// served under /auth/static/ (the dashboard's page test reads them).
func WebFiles() fs.FS {
	static, _ := fs.Sub(webFS, "web")
	return static
}

// loginMessages are the sign-in page's errors by their key in the pages'
// translation table (dashboard/web/lib/strings.js, section "login"); the
// text here is what the page shows until its script translates the key.
var loginMessages = map[string]string{
	"login.err.refused": "Yêu cầu bị từ chối · request refused",
	"login.err.expired": "Phiên đăng nhập hết hạn, thử lại · the form expired, try again",
	"login.err.limited": "Quá nhiều lần thử, chờ một phút · too many attempts, wait a minute",
	"login.err.wrong":   "Sai tên hoặc mật khẩu · wrong name or password",
	"login.err.oidc":    "Đăng nhập không thành công · sign-in refused ({arg})",
}

// LoginMessageKeys lists the keys of the sign-in page's errors.
func LoginMessageKeys() []string {
	keys := make([]string, 0, len(loginMessages))
	for k := range loginMessages {
		keys = append(keys, k)
	}
	return keys
}

// Mount adds the sign-in, kiosk, account and audit routes to mux. Handler
// must wrap the mux: these handlers rely on its checks.
func (a *Auth) Mount(mux *http.ServeMux) {
	mux.Handle("GET /auth/static/", http.StripPrefix("/auth/static/", http.FileServerFS(WebFiles())))
	mux.HandleFunc("GET /login", a.serveLoginPage)
	mux.HandleFunc("POST /login", a.serveLogin)
	mux.HandleFunc("POST /logout", a.serveLogout)
	mux.HandleFunc("GET /kiosk", a.serveKiosk)
	mux.HandleFunc("GET /api/me", a.serveMe)
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		b, _ := webFS.ReadFile("web/admin.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /api/admin/users", a.serveUsers)
	mux.HandleFunc("POST /api/admin/users", a.serveSaveUser)
	mux.HandleFunc("GET /api/admin/kiosks", a.serveKiosks)
	mux.HandleFunc("POST /api/admin/kiosks", a.serveCreateKiosk)
	mux.HandleFunc("POST /api/admin/kiosks/{id}/revoke", a.serveRevokeKiosk)
	mux.HandleFunc("GET /api/admin/audit", a.serveAudit)
	mux.HandleFunc("GET /api/admin/audit/export", a.serveAuditExport)
	if a.oidc != nil {
		mux.HandleFunc("GET /auth/oidc/login", a.serveOIDCLogin)
		mux.HandleFunc("GET /auth/oidc/callback", a.serveOIDCCallback)
	}
}

type loginView struct {
	CSRF     string
	Next     string
	Error    string
	ErrorKey string // key of loginMessages
	ErrorArg string
	OIDC     bool
}

func (a *Auth) serveLoginPage(w http.ResponseWriter, r *http.Request) {
	a.renderLogin(w, r, http.StatusOK, r.URL.Query().Get("next"), "", "")
}

// renderLogin shows the sign-in form, with the error of loginMessages
// named by key (none when key is empty); arg fills its {arg}.
func (a *Auth) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, key, arg string) {
	tok := randomID(18)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, MaxAge: 3600,
		Secure: a.cfg.SecureCookies || a.overTLS(r), SameSite: http.SameSiteStrictMode})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	v := loginView{CSRF: tok, Next: SafeNext(next), OIDC: a.oidc != nil}
	if key != "" {
		v.Error, v.ErrorKey, v.ErrorArg = strings.ReplaceAll(loginMessages[key], "{arg}", arg), key, arg
	}
	_ = loginPage.Execute(w, v)
}

// SafeNext keeps a post-sign-in redirect on this site: it returns next
// when it is a path of this site, and "/" for anything else. Refused: empty
// or longer than 512 bytes; any byte outside printable ASCII (control
// characters such as tab, newline and carriage return, which browsers strip
// from a Location, spaces, and non-ASCII); backslashes (browsers read them
// as slashes); anything url.Parse reads with a scheme, a host or user
// information; and anything that starts with "//" once a browser has
// normalised it (tabs and newlines removed, backslashes turned into
// slashes). So "/\t/evil.example", "/\\evil.example" and
// "https://evil.example" all become "/".
func SafeNext(next string) string {
	if next == "" || len(next) > 512 || next[0] != '/' {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	// What a browser makes of it (WHATWG URL parsing strips ASCII tab and
	// newline anywhere and treats a backslash as a slash); kept although
	// the loop above already refuses those bytes, so that this rule holds
	// on its own.
	norm := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(next)
	if strings.HasPrefix(norm, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}

// serveLogin checks a password sign-in. Every outcome is audited; the
// answer never says whether the name or the password was wrong.
func (a *Auth) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	pw := r.PostFormValue("password")
	next := r.PostFormValue("next")
	ip := a.clientIP(r)
	rec := audit.Event{Actor: name, Action: "auth.login", Target: "local", Remote: ip, UserAgent: r.UserAgent()}
	refuse := func(status int, outcome, reason, key string) {
		rec.Outcome, rec.Reason = outcome, reason
		a.audit.Record(rec)
		a.m.logins.WithLabelValues(outcome).Inc()
		a.renderLogin(w, r, status, next, key, "")
	}
	if len(name) > 64 {
		name, rec.Actor = name[:64], name[:64]
	}
	if !a.originAllowed(r) {
		refuse(http.StatusForbidden, audit.Denied, "foreign_origin: "+r.Header.Get("Origin"), "login.err.refused")
		return
	}
	c, err := r.Cookie(loginCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		refuse(http.StatusForbidden, audit.Denied, "csrf_token_mismatch", "login.err.expired")
		return
	}
	if !a.ipLimit.allow(ip) || !a.userLimit.allow(name) {
		a.m.limited.Inc()
		w.Header().Set("Retry-After", "60")
		refuse(http.StatusTooManyRequests, audit.Limited, "too_many_attempts", "login.err.limited")
		return
	}
	u, ok := a.user(r.Context(), name)
	// The hash is always verified (a missing account or one without a
	// password costs the same time), and the answer to every failure is
	// the same: only the audit log says which it was, so a disabled
	// account does not confirm that its password was right.
	hash := dummyHash
	if ok && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	a.hashSem <- struct{}{}
	good := VerifyPassword(hash, pw) && ok && u.PasswordHash != ""
	<-a.hashSem
	const wrong = "login.err.wrong"
	switch {
	case !ok:
		refuse(http.StatusUnauthorized, audit.Denied, "unknown_account", wrong)
		return
	case u.PasswordHash == "":
		rec.Role = string(u.Role)
		refuse(http.StatusUnauthorized, audit.Denied, "no_password", wrong)
		return
	case !good:
		rec.Role = string(u.Role)
		refuse(http.StatusUnauthorized, audit.Denied, "wrong_password", wrong)
		return
	case u.Disabled:
		rec.Role = string(u.Role)
		refuse(http.StatusUnauthorized, audit.Denied, "account_disabled", wrong)
		return
	}
	a.clearCookie(w, r, kioskCookie)
	p := a.newSession(w, r, u.Username, u.Role, "local", u.Epoch)
	rec.Role, rec.Outcome, rec.Detail = string(u.Role), audit.OK, "session "+p.SID[:8]
	a.audit.Record(rec)
	a.m.logins.WithLabelValues(audit.OK).Inc()
	http.Redirect(w, r, SafeNext(next), http.StatusSeeOther)
}

func (a *Auth) serveLogout(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	if p.SID != "" {
		a.mu.Lock()
		a.revoked[p.SID] = p.Exp.Unix()
		a.mu.Unlock()
		a.changed()
	}
	a.clearCookie(w, r, sessionCookie)
	a.clearCookie(w, r, kioskCookie)
	a.audit.Record(audit.Event{Actor: p.Name, Role: string(p.Role), Action: "auth.logout", Outcome: audit.OK, Remote: a.clientIP(r), UserAgent: r.UserAgent()})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// serveKiosk turns a kiosk link (/kiosk?token=ik_…) into an HttpOnly
// cookie and opens the wall, so the token leaves the address bar at once.
// A link with &lang=vi or &lang=en opens the wall pinned to that language.
func (a *Auth) serveKiosk(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	p, why := a.checkKiosk(r, tok)
	rec := audit.Event{Actor: p.Name, Role: string(RoleKiosk), Action: "auth.kiosk", Target: "wall", Remote: a.clientIP(r), UserAgent: r.UserAgent()}
	if why != "" {
		rec.Outcome, rec.Reason = audit.Denied, why
		a.audit.Record(rec)
		a.m.logins.WithLabelValues(audit.Denied).Inc()
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized", "reason": why})
		return
	}
	rec.Outcome = audit.OK
	a.audit.Record(rec)
	a.clearCookie(w, r, sessionCookie)
	http.SetCookie(w, &http.Cookie{Name: kioskCookie, Value: tok, Path: "/", HttpOnly: true, Expires: p.Exp,
		Secure: a.cfg.SecureCookies || a.overTLS(r), SameSite: http.SameSiteLaxMode})
	wall := "/"
	if lang := r.URL.Query().Get("lang"); lang == "vi" || lang == "en" {
		wall = "/?lang=" + lang
	}
	http.Redirect(w, r, wall, http.StatusSeeOther)
}

// Me is what /api/me answers: who is signed in, what they may do, and the
// token to send as X-CSRF-Token with every change.
type Me struct {
	Name        string       `json:"name"`
	Kind        string       `json:"kind"`
	Role        Role         `json:"role"`
	Permissions []Permission `json:"permissions"`
	Channels    []string     `json:"channels"`
	CSRF        string       `json:"csrf,omitempty"`
	Expires     int64        `json:"expires_ms,omitempty"`
}

func (a *Auth) serveMe(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	me := Me{Name: p.Name, Kind: p.Kind, Role: p.Role, Permissions: p.Role.Permissions()}
	for _, c := range []string{"wall", "alerts", "kpi", "devices"} {
		if p.CanSubscribe(c) {
			me.Channels = append(me.Channels, c)
		}
	}
	if p.SID != "" {
		me.CSRF = a.sign.csrf(p.SID)
	}
	if !p.Exp.IsZero() {
		me.Expires = p.Exp.UnixMilli()
	}
	writeJSON(w, http.StatusOK, me)
}

func (a *Auth) serveUsers(w http.ResponseWriter, r *http.Request) {
	users, err := a.store.Users(r.Context())
	writeList(w, users, err)
}

func (a *Auth) serveSaveUser(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	var c UserChange
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request body: " + err.Error()})
		return
	}
	c.Username = strings.ToLower(strings.TrimSpace(c.Username))
	if c.Username == p.Name && (c.Role != nil && *c.Role != RoleAdmin || c.Disabled != nil && *c.Disabled) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "an admin cannot demote or disable their own account"})
		return
	}
	u, err := a.SaveUser(r.Context(), c, p, a.clientIP(r))
	switch {
	case errors.Is(err, ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, u)
	}
}

func (a *Auth) serveKiosks(w http.ResponseWriter, r *http.Request) {
	ks, err := a.store.Kiosks(r.Context())
	writeList(w, ks, err)
}

func (a *Auth) serveCreateKiosk(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request body: " + err.Error()})
		return
	}
	k, tok, err := a.CreateKiosk(r.Context(), strings.TrimSpace(req.Name), p, a.clientIP(r))
	switch {
	case errors.Is(err, ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"kiosk": k, "token": tok, "url": "/kiosk?token=" + tok})
	}
}

func (a *Auth) serveRevokeKiosk(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	err := a.RevokeKiosk(r.Context(), r.PathValue("id"), p, a.clientIP(r))
	switch {
	case errors.Is(err, ErrInvalid):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"revoked": r.PathValue("id")})
	}
}

func (a *Auth) serveAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: q.Get("outcome")}
	if v, err := strconv.Atoi(q.Get("limit")); err == nil {
		f.Limit = v
	}
	if v, err := time.Parse(time.RFC3339, q.Get("since")); err == nil {
		f.Since = v
	}
	if v, err := time.Parse(time.RFC3339, q.Get("until")); err == nil {
		f.Until = v
	}
	conn, err := a.conn(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	evs, err := a.auditLog.Query(r.Context(), conn, f)
	writeList(w, evs, err)
}

// serveAuditExport streams the audit log, with the filters of
// /api/admin/audit and no row limit, as CSV or XLSX (?format=); admin only
// (/api/admin/ in the policy), and itself audited.
func (a *Auth) serveAuditExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: q.Get("outcome")}
	if v, err := time.Parse(time.RFC3339, q.Get("since")); err == nil {
		f.Since = v
	}
	if v, err := time.Parse(time.RFC3339, q.Get("until")); err == nil {
		f.Until = v
	}
	p, _ := FromContext(r.Context())
	if !p.Can(PermAdmin) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the audit log is for administrators"})
		return
	}
	conn, err := a.conn(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	req := export.Request{Table: "audit_log", Sheet: "audit_log", Actor: p.Name, Role: string(p.Role), Remote: a.clientIP(r),
		Audit: a.audit, Service: "dashboard", Log: a.log,
		Header: []string{"event_id", "at", "actor", "actor_role", "action", "target", "outcome", "reason", "remote_addr", "user_agent", "detail", "service"}}
	export.Serve(w, r, req, func(ew *export.Writer) error {
		return a.auditLog.Each(r.Context(), conn, f, func(e audit.Event) error {
			return ew.Row(e.ID, e.At, e.Actor, e.Role, e.Action, e.Target, e.Outcome, e.Reason, e.Remote, e.UserAgent, e.Detail, e.Service)
		})
	})
}

// writeList answers a listing: 503 with the error, or the list (an empty
// JSON array, never null).
func writeList[T any](w http.ResponseWriter, list []T, err error) {
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	if list == nil {
		list = []T{}
	}
	writeJSON(w, http.StatusOK, list)
}

// conn is a ClickHouse connection for the audit view.
func (a *Auth) conn(ctx context.Context) (driver.Conn, error) {
	if s, ok := a.store.(*CHStore); ok {
		return s.Conn(ctx)
	}
	a.connMu.Lock()
	defer a.connMu.Unlock()
	if a.auditConn != nil {
		return a.auditConn, nil
	}
	c, err := a.ch.Open(ctx)
	if err != nil {
		return nil, err
	}
	a.auditConn = c
	return c, nil
}
