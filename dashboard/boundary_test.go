package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/auth"
)

// Every page of the wall, read from the running server, carries the strict
// Content-Security-Policy: no websocket to any host (connect-src 'self'
// covers the page's own ws:// and wss://), no plugins, no <base>.
func TestWallPagesCarryTheStrictCSP(t *testing.T) {
	_, srv := v2Server(t, WallConfig{})
	for _, path := range []string{"/", "/index.html", "/app.js", "/style.css", "/kpi/", "/kpi/index.html", "/kpi/kpi.js", "/login", "/admin", "/api/latest"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if csp != auth.ContentSecurityPolicy {
			t.Errorf("GET %s (%d): Content-Security-Policy %q, want %q", path, resp.StatusCode, csp, auth.ContentSecurityPolicy)
		}
		for _, bad := range []string{"ws:", "wss:", "*", "unsafe-inline", "unsafe-eval"} {
			if strings.Contains(csp, bad) {
				t.Errorf("GET %s: the policy allows %s: %q", path, bad, csp)
			}
		}
		for _, want := range []string{"connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: the policy lacks %s: %q", path, want, csp)
			}
		}
	}
}

// Query parameters that are numbers refuse NaN and the infinities, which
// ParseFloat reads and every comparison lets through.
func TestHistoryHoursRefusesNaNAndInfinities(t *testing.T) {
	_, srv := v2Server(t, WallConfig{})
	for _, h := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity", "0", "-1", "73", "1e400", "six", "0x10"} {
		resp, err := http.Get(srv.URL + "/api/history?metric=aqi&hours=" + h)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error, Message string }
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusBadRequest || e.Error != "bad_hours" || !strings.Contains(e.Message, "history_max_hours") {
			t.Errorf("hours=%s: %d %s, want 400 bad_hours with what to send", h, resp.StatusCode, body)
		}
	}
}
