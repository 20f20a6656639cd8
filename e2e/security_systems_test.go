package e2e

// The administrative systems' endpoint of the ingest role refuses a post
// without a token, with a wrong token, or of a kind the system may not
// post; each refusal is in the audit log.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/ingest/adminhttp"
	"github.com/sonla-ioc/ioc/internal/audit"
)

func TestAdminSystemPostsNeedTheirToken(t *testing.T) {
	token := "e2e-sys-" + pipe.run + "-0123456789abcdef"
	svc, err := adminhttp.New(adminhttp.Config{Listen: "127.0.0.1:0", Tokens: "e2e-eoffice " + token + " document"},
		pipe.kafka, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := audit.New(audit.Config{FlushEvery: 100 * time.Millisecond}, pipe.ch, "ingest", slog.New(slog.DiscardHandler), nil)
	svc.Audit = w
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	go func() { defer wg.Done(); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	eventually(t, 30*time.Second, "the endpoint listens", func() (bool, string) { return svc.Ready(), "" })

	ua := agent(t)
	post := func(kind, auth string) int {
		req, _ := http.NewRequest("POST", "http://"+svc.Addr().String()+"/v1/events/"+kind, strings.NewReader(`[]`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", ua)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		kind, auth string
		want       int
		reason     string
	}{
		{"document", "", http.StatusUnauthorized, "no_token"},
		{"document", "Bearer wrong-" + token, http.StatusUnauthorized, "bad_token"},
		{"dossier", "Bearer " + token, http.StatusForbidden, "not_allowed"},
	} {
		if got := post(c.kind, c.auth); got != c.want {
			t.Errorf("post %s with %q: %d, want %d", c.kind, c.auth, got, c.want)
		}
		eventually(t, 15*time.Second, "audit of "+c.reason, func() (bool, string) {
			var n uint64
			err := pipe.conn.QueryRow(context.Background(), "SELECT count() FROM "+pipe.ch.SecurityTable("audit_log")+
				" WHERE user_agent = ? AND action = 'system.post' AND outcome = 'denied' AND reason = ? AND service = 'ingest' AND target = ?",
				ua, c.reason, "POST /v1/events/"+c.kind).Scan(&n)
			return err == nil && n == 1, fmt.Sprint(n, err)
		})
	}
	// The right token for its own kind passes the check.
	if got := post("document", "Bearer "+token); got == http.StatusUnauthorized || got == http.StatusForbidden {
		t.Errorf("the system's own post: %d", got)
	}
}
