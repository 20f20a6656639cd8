package simulate

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The generated events add up, counted in Go, to the figures of the city's
// H1-2021 report; the KPI engine must find the same figures in ClickHouse
// (e2e/kpi_test.go).
func TestH12021FiguresMatchTheReport(t *testing.T) {
	sc := H12021()
	f := sc.Figures
	pct := func(a, b int64) float64 { return math.Round(float64(a)/float64(b)*1000) / 10 }
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"tasks", [3]int{f.TasksTotal, f.TasksDone, f.TasksInProgress}, [3]int{70, 36, 34}},
		{"tasks done %", pct(int64(f.TasksDone), int64(f.TasksTotal)), 51.4},
		{"tasks overdue", f.TasksOverdue, 0},
		{"dossiers late", f.DossiersLate, 0},
		{"dossiers on time", f.DossiersOnTime, f.DossiersResolved},
		{"procedures", f.ProceduresPublished, 186},
		{"fields", len(f.ProceduresByField), 7},
		{"shops excellent", [2]int{f.ShopsExcellent, f.Shops}, [2]int{13, 13}},
		{"documents", [2]int{f.DocumentsSigned, f.DocumentsIssued}, [2]int{4704, 4910}},
		{"documents %", pct(int64(f.DocumentsSigned), int64(f.DocumentsIssued)), 95.8},
		{"departments signing", f.DepartmentsSigning, f.Departments},
		{"communes signing", [2]int{f.CommunesSigning, f.Communes}, [2]int{12, 12}},
		{"revenue vs province %", pct(f.Revenue, f.EstimateProvince), 88.5},
		{"revenue vs council %", pct(f.Revenue, f.EstimateCouncil), 55.0},
		{"revenue yoy %", math.Round((float64(f.Revenue)/float64(f.RevenuePrevYear)-1)*1000) / 10, 56.3},
		{"portal yoy %", math.Round((float64(f.PortalTraffic)/float64(f.PortalTrafficPrevYear)-1)*1000) / 10, 43.0},
		{"as of", sc.AsOf.Format(time.RFC3339), "2021-06-30T17:00:00+07:00"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if f.DossiersReceived < 5000 {
		t.Errorf("%d dossiers received in H1 2021, want thousands", f.DossiersReceived)
	}
	if share := float64(f.DossiersSettled) / float64(f.DossiersSettledDen) * 100; share < 99.7 || share >= 100 {
		t.Errorf("settled share %.3f %% (%d/%d), want at least 99.7 %% with a few still in progress", share, f.DossiersSettled, f.DossiersSettledDen)
	}
	t.Logf("figures: %+v", f)
}

// Every generated event is valid as the pipeline sees it, the generator is
// deterministic, and events are in send order with no time past as_of.
func TestH12021EventsAreValidAndDeterministic(t *testing.T) {
	a, b := H12021(), H12021()
	if len(a.Events) != len(b.Events) {
		t.Fatalf("two runs: %d and %d events", len(a.Events), len(b.Events))
	}
	ids := map[string]bool{}
	var last time.Time
	kinds := map[event.AdminKind]int{}
	for i, se := range a.Events {
		raw, err := event.MarshalAdmin(se.Event)
		if err != nil {
			t.Fatal(err)
		}
		rawB, _ := event.MarshalAdmin(b.Events[i].Event)
		if string(raw) != string(rawB) {
			t.Fatalf("event %d differs between runs:\n%s\n%s", i, raw, rawB)
		}
		ev, err := event.DecodeAdmin(se.Event.Kind(), raw)
		if err == nil {
			err = event.PrepareAdmin(ev, time.Now().UnixMilli(), event.DefaultAdminLimits)
		}
		if err != nil {
			t.Fatalf("event %d (%s) is invalid: %v\n%s", i, se.Event.Kind(), err, raw)
		}
		if ids[ev.Meta().ID] {
			t.Fatalf("event %d has the id of an earlier one: %s", i, raw)
		}
		ids[ev.Meta().ID] = true
		kinds[ev.Kind()]++
		if se.SendAt.Before(last) {
			t.Fatalf("event %d is sent before the one before it", i)
		}
		last = se.SendAt
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		if _, ok := m["id"]; ok {
			t.Fatalf("the simulator sets event ids (stream must compute them): %s", raw)
		}
	}
	for _, k := range event.AdminKinds {
		if kinds[k] == 0 {
			t.Errorf("no %s events", k)
		}
	}
	t.Logf("%d events: %v", len(a.Events), kinds)
}
