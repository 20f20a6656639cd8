package auth

import (
	"context"
	"testing"
)

// stalledStore is a MemStore whose listings answer what was stored when
// they were asked, but only once released: a reload that was under way
// while a change was made here.
type stalledStore struct {
	*MemStore
	asked   chan struct{}
	release chan struct{}
}

func (s *stalledStore) Kiosks(ctx context.Context) ([]Kiosk, error) {
	ks, err := s.MemStore.Kiosks(ctx)
	s.asked <- struct{}{}
	<-s.release
	return ks, err
}

// A reload that read the store before a kiosk token was revoked here does
// not bring the token back.
func TestReloadDoesNotUndoALocalRevoke(t *testing.T) {
	st := &stalledStore{MemStore: NewMemStore(), asked: make(chan struct{}, 1), release: make(chan struct{})}
	a, err := New(Config{Store: "memory"}, Options{Store: st, Audit: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	admin := Principal{Name: "test", Role: RoleAdmin}
	k, _, err := a.CreateKiosk(t.Context(), "wall", admin, "")
	if err != nil {
		t.Fatal(err)
	}
	st.release = make(chan struct{})
	done := make(chan struct{})
	go func() { a.refresh(context.Background(), false); close(done) }()
	<-st.asked // the reload has read the store: the token is not revoked there yet
	if err := a.RevokeKiosk(t.Context(), k.ID, admin, ""); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	<-done
	if why, _ := a.Revalidate(Principal{Kind: "kiosk", Name: "kiosk:" + k.ID, Role: RoleKiosk}); why != "kiosk_revoked" {
		t.Errorf("after a reload that began before the revoke: %q, want kiosk_revoked", why)
	}
}
