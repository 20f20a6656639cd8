package dashboard

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// The device API answers registered devices only, refuses malformed ids
// and ranges, and shows alerts only to roles that may see them (a kiosk
// and an analyst see the wall, not the alerts). ClickHouse is unreachable
// here: the page still gets the registry and live values.
func TestDeviceAPIChecks(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory", DevOpen: true}}, kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}},
		chconn.Config{Addr: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(filepath.Join("..", "deploy", "devices.csv"))
	if err != nil {
		t.Fatal(err)
	}
	s.wall.setRegistry(reg.Devices(), "test")
	mux := http.NewServeMux()
	s.devicePageRoutes(mux)
	for _, c := range []struct {
		path   string
		role   auth.Role
		status int
		alerts bool // the answer has an alerts list
	}{
		{"/api/device/aq-chieng-le", auth.RoleOperator, 200, true},
		{"/api/device/aq-chieng-le", auth.RoleLeadership, 200, true},
		{"/api/device/aq-chieng-le", auth.RoleKiosk, 200, false},
		{"/api/device/aq-chieng-le", auth.RoleAnalyst, 200, false},
		{"/api/device/no-such-device", auth.RoleOperator, 404, false},
		{"/api/device/%3Cscript%3E", auth.RoleOperator, 400, false},
		{"/api/device/aq-chieng-le/series?metric=pm25&range=1y", auth.RoleOperator, 400, false},
		{"/api/device/aq-chieng-le/series?range=24h", auth.RoleOperator, 400, false},
		{"/api/device/aq-chieng-le/series?metric=pm25&range=24h&format=xml", auth.RoleOperator, 400, false},
		{"/api/device/no-such-device/series?metric=pm25", auth.RoleOperator, 404, false},
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Kind: "user", Name: "t", Role: c.role}))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("%s as %s: %d %s, want %d", c.path, c.role, rec.Code, rec.Body, c.status)
			continue
		}
		if c.status != 200 {
			continue
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if _, has := body["alerts"]; has != c.alerts {
			t.Errorf("%s as %s: alerts listed %v, want %v", c.path, c.role, has, c.alerts)
		}
		var g devMeta
		if err := json.Unmarshal(body["registry"], &g); err != nil || g.Partner != "viettel" || g.Ward != "Phường Chiềng Lề" {
			t.Errorf("%s: registry %s", c.path, body["registry"])
		}
		if _, has := body["history_error"]; !has {
			t.Errorf("%s: ClickHouse is unreachable but no history_error", c.path)
		}
	}
}

// The device page and its API carry the strict policy, and the hourly
// history refuses the hours every comparison lets through.
func TestDevicePageBoundaries(t *testing.T) {
	_, srv := v2Server(t, WallConfig{})
	for _, path := range []string{"/device.html", "/device.js", "/device.css", "/api/device/aq-chieng-le", "/api/device/x/series?metric=pm25"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); csp != auth.ContentSecurityPolicy {
			t.Errorf("GET %s (%d): Content-Security-Policy %q", path, resp.StatusCode, csp)
		}
	}
	for _, h := range []string{"NaN", "Inf", "-Inf", "infinity", "0", "-1", "745", "1e400", "six"} {
		resp, err := http.Get(srv.URL + "/api/history?metric=water&step=hour&hours=" + h)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error, Message string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Error != "bad_hours" || !strings.Contains(e.Message, "744") {
			t.Errorf("step=hour&hours=%s: %d %+v, want 400 bad_hours with what to send", h, resp.StatusCode, e)
		}
	}
}
