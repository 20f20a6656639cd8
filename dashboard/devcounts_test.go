package dashboard

import (
	"maps"
	"testing"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The partner cards count a partner's devices as the map shows them.
func TestCountDevices(t *testing.T) {
	const now = int64(10_000_000)
	reg := map[string]devMeta{
		"fresh":      {Partner: "viettel", Interval: 60},
		"quiet":      {Partner: "viettel", Interval: 60}, // last reading 4 intervals ago
		"slow-ok":    {Partner: "viettel", Interval: 600},
		"off":        {Partner: "viettel", Interval: 60},
		"said-live":  {Partner: "vnpt"},
		"never":      {Partner: "vnpt"},
		"no-state":   {Partner: "vnpt"},
		"stale-said": {Partner: "vnpt", Interval: 60},
	}
	devs := map[string]*devLive{
		"fresh":      {Last: now - 30_000},
		"quiet":      {Last: now - 240_000},
		"slow-ok":    {Last: now - 240_000},
		"off":        {Last: now - 1000, Status: event.StatusOffline},
		"said-live":  {Status: event.StatusOnline},
		"never":      {},
		"stale-said": {Last: now - 1000, Status: event.StatusStale},
	}
	got := countDevices(reg, devs, now)
	want := map[string]deviceCounts{
		"viettel": {Online: 2, Stale: 1, Offline: 1, Total: 4},
		"vnpt":    {Online: 1, Stale: 1, Unknown: 2, Total: 4},
	}
	if !maps.Equal(got, want) {
		t.Errorf("countDevices = %+v, want %+v", got, want)
	}
}
