package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/registry"
)

const testRegistry = `device_id,partner,type,ward,name,lat,lon,interval_s
aq-1,viettel,air_quality,Phường Chiềng Lề,AQ 1,21.33,103.90,60
water-1,viettel,water_level,Xã Chiềng Cọ,Nậm La 1,21.34,103.89,60
rain-1,vnpt,rainfall,Phường Tô Hiệu,Rain 1,21.32,103.91,60
light-1,vnpt,streetlight,Xã Hua La,Light 1,21.29,103.90,300
`

func testReg(t *testing.T) *registry.Registry {
	t.Helper()
	reg, err := registry.Parse(strings.NewReader(testRegistry))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func testStatusConfig() StatusConfig {
	c := StatusConfig{}
	c.Defaults()
	return c
}

const t0 = int64(1_780_000_000_000) // a fixed start, ms

func sec(n int) int64 { return int64(n) * 1000 }

// changes renders status changes as "kind:subject status (cause) @s" for
// one-line comparisons.
func changes(evs []event.DeviceStatus) string {
	var parts []string
	for _, e := range evs {
		subj := e.DeviceID
		if e.Kind == event.SubjectFeed {
			subj = "feed:" + e.Partner
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s) @%d", subj, e.Status, e.Cause, (e.AtMs-t0)/1000))
	}
	return strings.Join(parts, "; ")
}

func TestTrackerDeviceLifecycle(t *testing.T) {
	tr := NewTracker(testStatusConfig(), testReg(t), t0)
	steps := []struct {
		name string
		do   func() []event.DeviceStatus
		want string
	}{
		{"nothing known yet", func() []event.DeviceStatus { return tr.Tick(t0 + sec(1)) }, ""},
		{"first reading", func() []event.DeviceStatus { return tr.Seen("viettel", "aq-1", t0+sec(2)) },
			"aq-1 online (reading) @2"},
		{"another reading changes nothing", func() []event.DeviceStatus { return tr.Seen("viettel", "aq-1", t0+sec(30)) }, ""},
		{"within two intervals", func() []event.DeviceStatus { return tr.Tick(t0 + sec(150)) }, ""},
		// stale at last reading + 2 × 60 s, offline at + 5 × 60 s: the
		// change time comes from the data, not from when the tick ran.
		{"late", func() []event.DeviceStatus { return tr.Tick(t0 + sec(155)) }, "aq-1 stale (late) @150"},
		// water-1 never reported: with aq-1 late the whole viettel feed is
		// silent, so aq-1 goes offline with it.
		{"offline", func() []event.DeviceStatus { return tr.Tick(t0 + sec(400)) }, "aq-1 offline (feed_silent) @330"},
		{"a replayed old reading changes nothing", func() []event.DeviceStatus { return tr.Seen("viettel", "aq-1", t0+sec(20)) }, ""},
		{"back", func() []event.DeviceStatus { return tr.Seen("viettel", "aq-1", t0+sec(401)) }, "aq-1 online (reading) @401"},
	}
	for _, s := range steps {
		got := changes(filterDevice(s.do(), "aq-1", "-"))
		if got != s.want {
			t.Errorf("%s: changes %q, want %q", s.name, got, s.want)
		}
	}
}

// filterDevice keeps the changes of one device and its partner's feed.
func filterDevice(evs []event.DeviceStatus, device, partner string) []event.DeviceStatus {
	var out []event.DeviceStatus
	for _, e := range evs {
		if e.DeviceID == device || e.Kind == event.SubjectFeed && e.Partner == partner {
			out = append(out, e)
		}
	}
	return out
}

// A device never heard of is offline once the threshold passed since the
// monitor started (a streetlight reports every 300 s: offline after 1500 s).
func TestTrackerNeverSeenDevice(t *testing.T) {
	tr := NewTracker(testStatusConfig(), testReg(t), t0)
	tr.Seen("vnpt", "rain-1", t0+sec(1))
	for at := 10; at < 1500; at += 10 {
		tr.Seen("vnpt", "rain-1", t0+sec(at))
		for _, e := range tr.Tick(t0 + sec(at)) {
			if e.DeviceID == "light-1" {
				t.Fatalf("light-1 changed at %ds: %s", at, changes([]event.DeviceStatus{e}))
			}
		}
	}
	got := changes(filterDevice(tr.Tick(t0+sec(1501)), "light-1", ""))
	if got != "light-1 offline (silent) @1500" {
		t.Errorf("never-seen streetlight: %q", got)
	}
}

// When every device of a partner stops and nothing at all comes from it,
// the feed is silent, and the devices that go offline with it say so; one
// silent device among reporting ones is just offline.
func TestTrackerFeedSilentVersusOfflineDevice(t *testing.T) {
	tr := NewTracker(testStatusConfig(), testReg(t), t0)
	// Both viettel devices report until 60 s; vnpt's rain gauge keeps
	// reporting but its streetlight never does.
	for at := 0; at <= 60; at += 10 {
		tr.Seen("viettel", "aq-1", t0+sec(at))
		tr.Seen("viettel", "water-1", t0+sec(at))
	}
	var all []event.DeviceStatus
	for at := 61; at <= 2000; at++ {
		if at%10 == 0 {
			all = append(all, tr.Seen("vnpt", "rain-1", t0+sec(at))...)
		}
		all = append(all, tr.Tick(t0+sec(at))...)
	}
	var viettel, vnpt []string
	for _, e := range all {
		line := changes([]event.DeviceStatus{e})
		if e.Partner == "viettel" {
			viettel = append(viettel, line)
		} else if e.DeviceID != "rain-1" {
			vnpt = append(vnpt, line)
		}
	}
	// The feed goes silent when both are late (180 s) and nothing came for
	// feed_silent_after (3 min after 60 s = 240 s).
	wantViettel := []string{
		"aq-1 stale (late) @180", "water-1 stale (late) @180",
		"feed:viettel silent (silent) @240",
		"aq-1 offline (feed_silent) @360", "water-1 offline (feed_silent) @360",
	}
	if strings.Join(viettel, "\n") != strings.Join(wantViettel, "\n") {
		t.Errorf("viettel changes:\n%s\nwant:\n%s", strings.Join(viettel, "\n"), strings.Join(wantViettel, "\n"))
	}
	wantVNPT := []string{"feed:vnpt live (start) @0", "light-1 offline (silent) @1500"}
	if strings.Join(vnpt, "\n") != strings.Join(wantVNPT, "\n") {
		t.Errorf("vnpt changes (its feed stays live):\n%s\nwant:\n%s", strings.Join(vnpt, "\n"), strings.Join(wantVNPT, "\n"))
	}
	if tr.FeedStatus("vnpt") != event.StatusLive || tr.FeedStatus("viettel") != event.StatusSilent {
		t.Errorf("feeds: vnpt %s viettel %s", tr.FeedStatus("vnpt"), tr.FeedStatus("viettel"))
	}
	// One reading brings the feed and its device back.
	got := changes(tr.Seen("viettel", "water-1", t0+sec(2001)))
	if got != "feed:viettel live (reading) @2001; water-1 online (reading) @2001" {
		t.Errorf("return: %q", got)
	}
	// A reading from an unregistered device of the partner counts for the
	// feed but makes no device change.
	if got := changes(tr.Seen("viettel", "ghost-9", t0+sec(2002))); got != "" {
		t.Errorf("unregistered device: %q", got)
	}
}

// The same input gives the same change ids: two stream instances, or one
// after a restart, store each change once.
func TestTrackerIDsAreDeterministic(t *testing.T) {
	run := func() []string {
		tr := NewTracker(testStatusConfig(), testReg(t), t0)
		var ids []string
		for at := 0; at < 3000; at += 7 {
			if at < 100 {
				for _, e := range tr.Seen("viettel", "aq-1", t0+sec(at)) {
					ids = append(ids, e.ID)
				}
			}
			for _, e := range tr.Tick(t0 + sec(at) + int64(at%3)) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	a, b := run(), run()
	if strings.Join(a, ",") != strings.Join(b, ",") || len(a) < 5 {
		t.Errorf("ids differ or too few (%d):\n%v\n%v", len(a), a, b)
	}
}

// Restored state (from ClickHouse) is not announced again; a device that
// reported while the monitor was down comes back online.
func TestTrackerRestore(t *testing.T) {
	tr := NewTracker(testStatusConfig(), testReg(t), t0)
	tr.Restore(event.SubjectDevice, "viettel", "aq-1", event.StatusOffline, t0-sec(1000))
	tr.Restore(event.SubjectDevice, "viettel", "water-1", event.StatusOnline, t0-sec(100))
	tr.Restore(event.SubjectFeed, "viettel", "", event.StatusLive, t0-sec(3000))
	tr.RestoreSeen("viettel", "aq-1", t0-sec(10))
	tr.RestoreSeen("viettel", "water-1", t0-sec(20))
	got := changes(filterDevice(tr.Tick(t0), "aq-1", "viettel"))
	if got != "aq-1 online (reading) @-10" {
		t.Errorf("after restore: %q", got)
	}
	if got := changes(filterDevice(tr.Tick(t0+sec(1)), "water-1", "viettel")); got != "" {
		t.Errorf("water-1 was restored online and reported: %q", got)
	}
	_ = time.Second
}
