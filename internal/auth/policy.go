package auth

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/audit"
)

// rule says what a request needs. Rules are tried in order; the first
// whose method and path match decides. A path ending in "/" matches the
// paths under it; one without matches exactly.
type rule struct {
	methods string // "GET", "POST", "*" (any), "!GET" (anything but GET and HEAD)
	path    string
	perm    Permission
}

// policy is the dashboard's access policy: the one place that says which
// routes are open. New routes need no entry to be safe: a read (GET) falls
// to the wall permission, a change (any other method) to admin.
var policy = []rule{
	{"*", "/login", PermPublic},
	{"GET", "/kiosk", PermPublic},
	{"GET", "/auth/static/", PermPublic},
	{"GET", "/favicon.svg", PermPublic}, // the icon of every page, the sign-in page too
	{"GET", "/lib/", PermPublic},        // the modules every page shares, the sign-in page too: code and translations, no data
	{"*", "/auth/oidc/", PermPublic},
	{"POST", "/logout", PermSignedIn},
	{"GET", "/api/me", PermSignedIn},
	{"GET", "/ws", PermWall}, // channels: see ChannelPermission
	{"*", "/admin", PermAdmin},
	{"*", "/admin/", PermAdmin},
	{"*", "/api/admin/", PermAdmin},
	{"*", "/api/audit", PermAdmin},
	{"POST", "/api/alerts/", PermAck}, // POST /api/alerts/{id}/ack
	{"GET", "/api/alerts", PermAlertsView},
	{"GET", "/api/alerts/", PermAlertsView},
	{"GET", "/api/export/", PermExport}, // and each table's own permission (dashboard/exports.go)
	{"GET", "/api/kpis", PermKPI},
	{"GET", "/api/kpis/", PermKPI},
	{"GET", "/kpi", PermKPI},
	{"GET", "/kpi/", PermKPI},
	{"GET", "/", PermWall}, // the wall page, its assets and its data
	{"*", "/", PermAdmin},  // any other change: devices, rules, …
}

func matchRule(method, path string) rule {
	for _, r := range policy {
		switch r.methods {
		case "*":
		case "GET":
			if method != http.MethodGet && method != http.MethodHead {
				continue
			}
		default:
			if method != r.methods {
				continue
			}
		}
		if path == r.path || strings.HasSuffix(r.path, "/") && strings.HasPrefix(path, r.path) {
			return r
		}
	}
	return rule{perm: PermAdmin}
}

// Principal is who makes a request.
type Principal struct {
	Kind string // "user" (local account), "oidc", "kiosk", "anonymous" (dev_open), "system", "cli"
	Name string // account name, "kiosk:<id>", "anonymous", "system:<name>"
	Role Role
	SID  string    // session id (user and oidc)
	Exp  time.Time // when the credential ends
	// Epoch is the account's epoch the session was issued under (local
	// accounts): Revalidate ends it when the account has moved on.
	Epoch uint32
}

// Can reports whether the principal has a permission.
func (p Principal) Can(perm Permission) bool { return p.Role.Can(perm) }

// CanSubscribe reports whether the principal may receive a websocket channel.
func (p Principal) CanSubscribe(channel string) bool { return p.Role.CanSubscribe(channel) }

type ctxKey struct{}

// FromContext returns the principal of a request that passed Handler.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns a context carrying p (for tests and tools).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// Handler wraps the dashboard's routes with the access policy, security
// headers and body limits.
func (a *Auth) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.securityHeaders(w, r)
		if r.ContentLength > a.cfg.MaxBodyBytes {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		ru := matchRule(r.Method, r.URL.Path)
		if ru.perm == PermPublic {
			next.ServeHTTP(w, r)
			return
		}
		ws := isWebsocket(r)
		changing := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		action := actionFor(r, ws)
		p, reason := a.principal(w, r)
		if (ws || changing) && !a.originAllowed(r) {
			a.deny(w, r, p, action, "foreign_origin: "+r.Header.Get("Origin"), http.StatusForbidden)
			return
		}
		if reason != "" {
			if r.Method == http.MethodGet && !ws && wantsHTML(r) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			a.deny(w, r, p, action, reason, http.StatusUnauthorized)
			return
		}
		if !p.Can(ru.perm) {
			if p.Kind == "anonymous" && r.Method == http.MethodGet && !ws && wantsHTML(r) {
				// dev_open: a page beyond the anonymous role asks for a sign-in.
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			why := "role_not_allowed"
			if p.Role == RoleKiosk {
				why = "kiosk_scope"
			}
			a.deny(w, r, p, action, why+": needs "+string(ru.perm), http.StatusForbidden)
			return
		}
		if ws {
			for _, c := range requestedChannels(r) {
				if !p.CanSubscribe(c) {
					why := "channel_not_allowed"
					if p.Role == RoleKiosk {
						why = "kiosk_scope"
					}
					a.deny(w, r, p, action, why+": channel "+c, http.StatusForbidden)
					return
				}
			}
		}
		if changing && p.SID != "" {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
				got = r.PostFormValue("csrf")
			}
			if !a.sign.checkCSRF(p.SID, got) {
				why := "csrf_token_mismatch"
				if got == "" {
					why = "csrf_token_missing"
				}
				a.deny(w, r, p, action, why, http.StatusForbidden)
				return
			}
		}
		r = r.WithContext(WithPrincipal(r.Context(), p))
		switch {
		case ws:
			release, ok := a.wsSlot(p)
			if !ok {
				a.m.denied.WithLabelValues("too_many_connections").Inc()
				a.record(r, p, action, audit.Limited, "too_many_connections: "+strconv.Itoa(a.cfg.WSConnectionsPerPrincipal)+
					" open (dashboard.auth.ws_connections_per_principal)", "")
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": http.StatusText(http.StatusTooManyRequests),
					"reason": "too_many_connections: close another window of this account or kiosk (dashboard.auth.ws_connections_per_principal)"})
				return
			}
			defer release()
			a.record(r, p, action, audit.OK, "", strings.Join(requestedChannels(r), ","))
			next.ServeHTTP(w, r) // returns when the websocket closes
		case changing && !selfAudited(r.URL.Path):
			sw := audit.NewStatusWriter(w)
			next.ServeHTTP(sw, r)
			outcome, why := audit.OK, ""
			if sw.Status >= 400 {
				outcome, why = audit.Failed, http.StatusText(sw.Status)
			}
			a.record(r, p, action, outcome, why, "")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// wsSlot takes one of the principal's websocket connections
// (ws_connections_per_principal); release gives it back. dev_open's
// anonymous visitors are not one principal: max_clients bounds them.
func (a *Auth) wsSlot(p Principal) (release func(), ok bool) {
	if p.Kind == "anonymous" {
		return func() {}, true
	}
	a.wsMu.Lock()
	defer a.wsMu.Unlock()
	if a.wsOpen[p.Name] >= a.cfg.WSConnectionsPerPrincipal {
		return nil, false
	}
	a.wsOpen[p.Name]++
	return func() {
		a.wsMu.Lock()
		defer a.wsMu.Unlock()
		if a.wsOpen[p.Name]--; a.wsOpen[p.Name] <= 0 {
			delete(a.wsOpen, p.Name)
		}
	}, true
}

// selfAudited paths record their own, more precise, audit events.
func selfAudited(path string) bool {
	return path == "/login" || path == "/logout" || strings.HasPrefix(path, "/api/admin/")
}

// actionFor names what a request does, for the audit log.
func actionFor(r *http.Request, ws bool) string {
	p := r.URL.Path
	switch {
	case ws:
		return "ws.connect"
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return "http.read"
	case strings.HasPrefix(p, "/api/alerts/") && strings.HasSuffix(p, "/ack"):
		return "alert.ack"
	case strings.HasPrefix(p, "/api/devices") || strings.HasPrefix(p, "/api/registry"):
		return "device.change"
	case strings.HasPrefix(p, "/api/rules"):
		return "rule.change"
	case strings.HasPrefix(p, "/api/admin/users"):
		return "user.update"
	case strings.HasPrefix(p, "/api/admin/kiosks"):
		return "kiosk.change"
	}
	return "http.change"
}

// requestedChannels are the websocket channels asked for in the URL
// (?channels=wall,alerts or ?channel=kpi); none means the wall.
func requestedChannels(r *http.Request) []string {
	var out []string
	q := r.URL.Query()
	for _, v := range append(q["channels"], q["channel"]...) {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.URL.Path == "/ws"
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// originAllowed refuses cross-site requests: an Origin that is neither this
// host nor configured, or a browser saying the request is cross-site.
func (a *Auth) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site" // not a browser, or an old one on a same-origin request
	}
	if o == "null" {
		// Browsers send "Origin: null" with a form posted from a page whose
		// Referrer-Policy is no-referrer (ours: the sign-in form); their
		// Sec-Fetch-Site, which no page can set, still says where it came from.
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	if slices.Contains(a.origins, o) {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func (a *Auth) deny(w http.ResponseWriter, r *http.Request, p Principal, action, reason string, status int) {
	code, _, _ := strings.Cut(reason, ":")
	a.m.denied.WithLabelValues(code).Inc()
	a.record(r, p, action, audit.Denied, reason, "")
	writeJSON(w, status, map[string]string{"error": http.StatusText(status), "reason": reason})
}

// record writes an audit event about a request.
func (a *Auth) record(r *http.Request, p Principal, action, outcome, reason, detail string) {
	target := r.Method + " " + r.URL.Path
	if action == "alert.ack" {
		target = "alert:" + strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/alerts/"), "/ack")
	}
	a.audit.Record(audit.Event{Actor: p.Name, Role: string(p.Role), Action: action, Target: target, Outcome: outcome,
		Reason: reason, Remote: a.clientIP(r), UserAgent: r.UserAgent(), Detail: detail})
}

// ClientIP is the caller's address as the audit log records it (from
// X-Forwarded-For behind a trusted proxy).
func (a *Auth) ClientIP(r *http.Request) string { return a.clientIP(r) }

// clientIP is the caller's address (from X-Forwarded-For behind a trusted proxy).
func (a *Auth) clientIP(r *http.Request) string {
	if a.cfg.TrustProxy {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			parts := strings.Split(f, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *Auth) overTLS(r *http.Request) bool {
	return r.TLS != nil || a.cfg.TrustProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// ContentSecurityPolicy is sent with every response: scripts and styles
// only from the dashboard's own files (no inline script), no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (a *Auth) securityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/admin") {
		h.Set("Cache-Control", "no-store")
	}
	if a.overTLS(r) {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
