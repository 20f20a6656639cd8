package dashboard

import (
	"context"
	"time"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/auth"
)

// Close codes of a connection whose credential ended: 4401 it is over
// (signed out, session or kiosk token past its end), 4403 it was revoked
// (kiosk token revoked, account disabled, demoted or given a new
// password). The wall shows the sign-in on either (docs/websocket.md).
const (
	closeCredentialEnded   = 4401
	closeCredentialRevoked = 4403
)

// revalidate closes every open websocket whose credential ended, within
// dashboard.auth.revoke_within: it checks all of them every half of that,
// and at once when the access control reports a change (a kiosk token
// revoked or an account changed here, a sign-out, accounts reloaded from
// ClickHouse with another instance's changes). The close code says why
// (4401 over: sign in again; 4403 revoked) and the reason names it; each
// closing is audited as ws.close.
func (s *Service) revalidate(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.Auth.RevokeWithin/2, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.auth.Changes():
		}
		s.revalidateOnce()
	}
}

func (s *Service) revalidateOnce() {
	s.v2.mu.Lock()
	all := make([]*session, 0, len(s.v2.sessions))
	for sess := range s.v2.sessions {
		all = append(all, sess)
	}
	s.v2.mu.Unlock()
	for _, sess := range all {
		sess.mu.Lock()
		closed, who := sess.closed, sess.who
		sess.mu.Unlock()
		if closed {
			continue
		}
		if code, reason := s.credentialEnded(who, sess.remote); code != 0 {
			sess.close(code, reason)
		}
	}
}

// credentialEnded returns the close code and reason for a connection whose
// principal no longer holds (and audits it), or 0.
func (s *Service) credentialEnded(p auth.Principal, remote string) (int, string) {
	why, revoked := s.auth.Revalidate(p)
	if why == "" {
		return 0, ""
	}
	code, text := closeCredentialEnded, "credentials ended ("+why+"): sign in again"
	if revoked {
		code, text = closeCredentialRevoked, "credentials revoked ("+why+"): sign in again"
	}
	s.auth.Audit().Record(audit.Event{Actor: p.Name, Role: string(p.Role), Action: "ws.close", Target: "GET /ws",
		Outcome: audit.Denied, Reason: why, Remote: remote})
	return code, text
}
