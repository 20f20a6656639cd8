package auth

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// An account or kiosk row whose version lies beyond MaxClockSkew in the
// future is refused when read: it cannot outrank every later change (an
// admin nobody can demote, a revoked kiosk token brought back for ever). A
// row within the skew still counts.
func TestCHStoreRefusesFutureVersions(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_authfuture", schema.Migrate)
	ctx := context.Background()
	store := NewCHStore(ch)
	defer store.Close()
	var logged strings.Builder
	store.Log = slog.New(slog.NewTextHandler(&logged, nil))

	if err := store.PutUser(ctx, User{Username: "lan", Role: RoleOperator, Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutKiosk(ctx, Kiosk{ID: "k1", Name: "wall-1", Scope: "wall", Revoked: true}); err != nil {
		t.Fatal(err)
	}
	// Rows as whoever holds an account that may insert could write them.
	at := func(d time.Duration) uint64 { return uint64(time.Now().Add(d).UnixNano()) }
	forge := func(q string, args ...any) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(args...); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	users := "INSERT INTO " + ch.SecurityTable("users") + " (username, role, epoch, version)"
	kiosks := "INSERT INTO " + ch.SecurityTable("kiosk_tokens") + " (id, name, scope, revoked, version)"
	forge(users, "lan", string(RoleAdmin), uint32(1), at(365*24*time.Hour))
	forge(users, "mallory", string(RoleAdmin), uint32(1), at(MaxClockSkew+time.Minute))
	forge(kiosks, "k1", "wall-1", "wall", uint8(0), at(10*365*24*time.Hour))

	us, err := store.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Role{}
	for _, u := range us {
		got[u.Username] = u.Role
	}
	if got["lan"] != RoleOperator {
		t.Errorf("lan reads as %q: a row versioned a year ahead outranked the real one (want operator)", got["lan"])
	}
	if r, ok := got["mallory"]; ok {
		t.Errorf("an account that exists only in a row beyond the clock skew was read, as %q", r)
	}
	ks, err := store.Kiosks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 || !ks[0].Revoked {
		t.Errorf("kiosk tokens %+v: the revoked token came back through a row versioned ten years ahead", ks)
	}
	if !strings.Contains(logged.String(), "version in the future") || !strings.Contains(logged.String(), "mallory") {
		t.Errorf("no warning naming the refused rows; log:\n%s", logged.String())
	}

	// Within the skew, a newer row still wins: clocks a little apart work.
	forge(users, "lan", string(RoleLeadership), uint32(2), at(MaxClockSkew/2))
	if us, err = store.Users(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Username == "lan" && u.Role != RoleLeadership {
			t.Errorf("a row %s ahead (within MaxClockSkew %s) was not read: lan is %q", MaxClockSkew/2, MaxClockSkew, u.Role)
		}
	}
}
