package dashboard

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/auth"
)

// The wall in a real browser, opened with a kiosk link: when the kiosk
// token is revoked, its websocket is closed with 4403 and the page shows
// the sign-in instead of reconnecting for ever.
func TestWallShowsSignInWhenItsKioskIsRevoked(t *testing.T) {
	s, srv, tok := kioskServerBuffers(t, WallConfig{}, 10, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.revalidate(ctx)
	b := startBrowser(t, 1280, 720)
	b.navigate(srv.URL + "/kiosk?token=" + tok)
	b.waitJS("the wall is live", `location.pathname === '/' && document.getElementById('conn').classList.contains('live')`, 30*time.Second)
	ks, _ := s.Auth().Kiosks(ctx)
	if err := s.Auth().RevokeKiosk(ctx, ks[0].ID, auth.Principal{Name: "test", Role: auth.RoleAdmin}, ""); err != nil {
		t.Fatal(err)
	}
	b.waitJS("the sign-in page", `location.pathname === '/login' && !!document.querySelector('form[action="/login"] input[name="password"]')`,
		s.cfg.Auth.RevokeWithin+10*time.Second)
	for _, e := range b.errors() {
		if !strings.Contains(e, "favicon.ico") { // the sign-in page's browser asks for it without credentials
			t.Errorf("browser: %s", e)
		}
	}
}

// The KPI page of a leadership account signed in through the real form:
// when the account is disabled, its websocket is closed with 4403 and the
// page shows the sign-in.
func TestKPIPageShowsSignInWhenItsAccountIsDisabled(t *testing.T) {
	s, srv, _ := kioskServerBuffers(t, WallConfig{}, 10, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.revalidate(ctx)
	admin := auth.Principal{Name: "test", Role: auth.RoleAdmin}
	role, pw := auth.RoleLeadership, "lanh-dao-mat-khau-du-dai"
	if _, err := s.Auth().SaveUser(ctx, auth.UserChange{Username: "lanh.dao", Role: &role, Password: &pw}, admin, ""); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, 1280, 720)
	b.navigate(srv.URL + "/login?next=%2Fkpi%2F")
	b.waitJS("the sign-in form", `!!document.querySelector('form[action="/login"] input[name="password"]')`, 30*time.Second)
	b.eval(`(() => { const f = document.querySelector('form[action="/login"]');
		f.username.value = 'lanh.dao'; f.password.value = '`+pw+`'; f.submit(); return true; })()`, nil)
	b.waitJS("the KPI page is live", `location.pathname === '/kpi/' && document.getElementById('conn').classList.contains('live')`, 30*time.Second)
	yes := true
	if _, err := s.Auth().SaveUser(ctx, auth.UserChange{Username: "lanh.dao", Disabled: &yes}, admin, ""); err != nil {
		t.Fatal(err)
	}
	b.waitJS("the sign-in page", `location.pathname === '/login' && !!document.querySelector('form[action="/login"] input[name="password"]')`,
		s.cfg.Auth.RevokeWithin+10*time.Second)
	for _, e := range b.errors() {
		if !strings.Contains(e, "favicon.ico") {
			t.Errorf("browser: %s", e)
		}
	}
}
