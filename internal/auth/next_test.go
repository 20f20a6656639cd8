package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// Every shape of `next` that a browser could read as another site comes
// back as "/"; paths of this site come back unchanged.
func TestSafeNextRefusesEveryOtherSite(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// kept: paths of this site
		{"/", "/"},
		{"/kpi/", "/kpi/"},
		{"/kpi/?lang=en", "/kpi/?lang=en"},
		{"/admin#users", "/admin#users"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // an escaped slash stays in the path
		{"/a/b?next=//evil.example", "/a/b?next=//evil.example"},
		// refused: empty, relative, too long
		{"", "/"},
		{"kpi", "/"},
		{"/" + strings.Repeat("a", 600), "/"},
		// refused: another site outright
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"https://evil.example", "/"},
		{"http:evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"//user@evil.example", "/"},
		// refused: control characters browsers strip (the shapes)
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/\t\\evil.example", "/"},
		{"/\r\n/evil.example", "/"},
		{"\t//evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\x0b/evil.example", "/"},
		{"/\x7f/evil.example", "/"},
		// refused: backslashes, which browsers read as slashes
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\\/evil.example", "/"},
		{"/kpi\\", "/"},
		// refused: spaces and non-ASCII (a real next is percent-encoded)
		{"/ /evil.example", "/"},
		{" //evil.example", "/"},
		{"/\u3000/evil.example", "/"},
		{"/\u2215\u2215evil.example", "/"},
	} {
		if got := SafeNext(c.in); got != c.want {
			t.Errorf("SafeNext(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// What the browser receives: the sign-in form carries next, and its
// answer's Location resolves on this site for every hostile shape.
func TestSignInRedirectStaysOnTheSite(t *testing.T) {
	a, err := New(Config{Store: "memory", LoginPerUserPerMinute: 1000}, Options{Audit: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	pw := "a-password-long-enough"
	h, _ := HashPassword(pw)
	_ = a.store.PutUser(t.Context(), User{Username: "an", Role: RoleOperator, PasswordHash: h, Epoch: 1})
	mux := http.NewServeMux()
	a.Mount(mux)
	base, _ := url.Parse("http://wall.example/login")
	for _, next := range []string{"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\t\\evil.example", "//evil.example", "/\\evil.example", "https://evil.example/"} {
		req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"username": {"an"}, "password": {pw},
			"csrf": {"tok"}, "next": {next}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: loginCookie, Value: "tok"})
		w := httptest.NewRecorder()
		a.Handler(mux).ServeHTTP(w, req)
		loc := w.Header().Get("Location")
		if w.Code != http.StatusSeeOther {
			t.Fatalf("sign-in with next %q: %d", next, w.Code)
		}
		// A browser strips tabs and newlines and reads backslashes as slashes.
		seen := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
		u, err := base.Parse(seen)
		if err != nil || u.Host != base.Host || loc != "/" {
			t.Errorf("next %q: Location %q, which a browser reads as %v; want /", next, loc, u)
		}
	}
}

// The OIDC sign-in keeps next in its signed state cookie only as a path
// of this site: the callback redirects there.
func TestOIDCNextStaysOnTheSite(t *testing.T) {
	a, err := New(Config{Store: "memory", OIDC: OIDCConfig{Issuer: "https://id.example", ClientID: "c", RedirectURL: "https://wall.example/auth/oidc/callback",
		RoleMap: map[string]string{"ops": "operator"}}}, Options{Audit: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	a.oidc.oauth = &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{AuthURL: "https://id.example/auth", TokenURL: "https://id.example/token"}}
	for next, want := range map[string]string{"/kpi/": "/kpi/", "/\t/evil.example": "/", "/\\evil.example": "/", "//evil.example": "/"} {
		w := httptest.NewRecorder()
		a.serveOIDCLogin(w, httptest.NewRequest("GET", "/auth/oidc/login?next="+url.QueryEscape(next), nil))
		req := httptest.NewRequest("GET", "/auth/oidc/callback", nil)
		for _, c := range w.Result().Cookies() {
			req.AddCookie(c)
		}
		st, ok := a.readOIDCState(req)
		if !ok || st.Next != want {
			t.Errorf("OIDC sign-in with next %q: state %+v (%v), want next %q", next, st, ok, want)
		}
	}
}

// A kiosk link opens the wall; with &lang=vi or &lang=en, the wall pinned
// to that language; any other value is dropped, never copied into Location.
func TestKioskLinkPinsTheWallsLanguage(t *testing.T) {
	a, err := New(Config{Store: "memory"}, Options{Audit: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := a.CreateKiosk(t.Context(), "wall", Principal{Name: "test", Role: RoleAdmin}, "")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Mount(mux)
	for _, c := range []struct{ lang, want string }{
		{"", "/"}, {"en", "/?lang=en"}, {"vi", "/?lang=vi"}, {"fr", "/"}, {"en&next=//evil.example", "/"}, {"//evil.example", "/"},
	} {
		q := url.Values{"token": {tok}}
		if c.lang != "" {
			q.Set("lang", c.lang)
		}
		w := httptest.NewRecorder()
		a.Handler(mux).ServeHTTP(w, httptest.NewRequest("GET", "/kiosk?"+q.Encode(), nil))
		if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != c.want {
			t.Errorf("kiosk link with lang=%q: %d Location %q, want 303 %q", c.lang, w.Code, loc, c.want)
		}
	}
}

// A refused sign-in names its message by the key of the pages' translation
// table, so the page shows it in the reader's language.
func TestSignInErrorCarriesItsTranslationKey(t *testing.T) {
	a, err := New(Config{Store: "memory"}, Options{Audit: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Mount(mux)
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"username": {"nobody"}, "password": {"x"}, "csrf": {"tok"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: "tok"})
	w := httptest.NewRecorder()
	a.Handler(mux).ServeHTTP(w, req)
	body := w.Body.String()
	if w.Code != http.StatusUnauthorized || !strings.Contains(body, `data-i18n="login.err.wrong"`) || !strings.Contains(body, loginMessages["login.err.wrong"]) {
		t.Errorf("refused sign-in: %d, want 401 with the key login.err.wrong and its text:\n%s", w.Code, body)
	}
}
