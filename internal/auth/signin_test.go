package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// signIn posts the sign-in form as a browser does (with the form's token).
func signIn(t *testing.T, h http.Handler, name, pw string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"username": {name}, "password": {pw},
		"csrf": {"tok"}, "next": {"/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: "tok"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

var csrfValue = regexp.MustCompile(`name="csrf" value="[^"]*"`)

// A disabled account answers exactly as a wrong password does, so the
// answer never confirms that the password was right; an account without
// a password (OIDC only) cannot sign in with any password, not even the
// one behind the timing decoy's hash.
func TestSignInFailuresLookAlike(t *testing.T) {
	rec := &sink{}
	a, err := New(Config{Store: "memory", LoginPerUserPerMinute: 1000}, Options{Audit: rec})
	if err != nil {
		t.Fatal(err)
	}
	pw := "the-right-password"
	hash, _ := HashPassword(pw)
	_ = a.store.PutUser(t.Context(), User{Username: "on", Role: RoleOperator, PasswordHash: hash, Epoch: 1})
	_ = a.store.PutUser(t.Context(), User{Username: "off", Role: RoleOperator, PasswordHash: hash, Epoch: 2, Disabled: true})
	_ = a.store.PutUser(t.Context(), User{Username: "oidc-only", Role: RoleAdmin, Epoch: 1})
	mux := http.NewServeMux()
	a.Mount(mux)
	h := a.Handler(mux)

	if w := signIn(t, h, "on", pw); w.Code != http.StatusSeeOther {
		t.Fatalf("the control, a right password: %d", w.Code)
	}
	wrong := signIn(t, h, "on", "not-the-password")
	disabled := signIn(t, h, "off", pw)
	unknown := signIn(t, h, "nobody", pw)
	body := func(w *httptest.ResponseRecorder) string { return csrfValue.ReplaceAllString(w.Body.String(), "") }
	for name, w := range map[string]*httptest.ResponseRecorder{"disabled account, right password": disabled, "unknown account": unknown} {
		if w.Code != wrong.Code || body(w) != body(wrong) {
			t.Errorf("%s: %d %q\ndiffers from a wrong password: %d %q", name, w.Code, body(w), wrong.Code, body(wrong))
		}
	}
	for _, guess := range []string{"", "not-a-password-of-anyone", pw} {
		if w := signIn(t, h, "oidc-only", guess); w.Code != http.StatusUnauthorized || body(w) != body(wrong) {
			t.Errorf("account without a password, password %q: %d, want 401 as a wrong password", guess, w.Code)
		}
	}
	// The audit log still tells an admin what happened.
	reasons := map[string]bool{}
	for _, e := range rec.evs {
		reasons[e.Actor+":"+e.Reason] = true
	}
	for _, want := range []string{"on:wrong_password", "off:account_disabled", "nobody:unknown_account", "oidc-only:no_password"} {
		if !reasons[want] {
			t.Errorf("audit has no %s: %v", want, reasons)
		}
	}
}

// A browser posts the sign-in form with "Origin: null" (the page's
// Referrer-Policy is no-referrer) and Sec-Fetch-Site: same-origin: that is
// the site's own form. A null origin from anywhere else is refused.
func TestNullOriginOnlyFromTheSameSite(t *testing.T) {
	a, err := New(Config{Store: "memory"}, Options{Audit: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		origin, site string
		want         bool
	}{
		{"null", "same-origin", true},
		{"null", "cross-site", false},
		{"null", "same-site", false},
		{"null", "none", false},
		{"null", "", false},
		{"https://evil.example", "same-origin", false},
		{"http://wall.example", "", true},
		{"", "cross-site", false},
		{"", "", true},
	} {
		r := httptest.NewRequest("POST", "http://wall.example/login", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if got := a.originAllowed(r); got != c.want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: allowed %v, want %v", c.origin, c.site, got, c.want)
		}
	}
}
