package kpi

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Every tile has a drill-down by month and the dimensions its data has;
// every drill query renders completely for each of its dimensions and, in
// cluster mode, reads the Distributed tables. (Against ClickHouse: e2e
// TestKPIReportH12021 checks that each drill-down adds up to its tile.)
func TestDrillQueriesRender(t *testing.T) {
	want := map[string][]string{
		"reform_plan.done":     {ByMainTask, ByUnit, ByMonth},
		"dossiers.near_due":    {ByUnit, ByField, ByMonth},
		"procedures.published": {ByField, ByMonth},
		"documents.signed":     {ByUnit, ByMonth},
		"signing.communes":     {ByUnit, ByMonth},
		"one_stop.excellent":   {ByUnit, ByMonth},
		"budget.yoy":           {ByMonth},
		"portal.yoy":           {ByMonth},
	}
	for id, dims := range want {
		if got := Dimensions(id); !slices.Equal(got, dims) {
			t.Errorf("Dimensions(%s) = %v, want %v", id, got, dims)
		}
	}
	if Dimensions("no.such") != nil {
		t.Error("an unknown tile has dimensions")
	}
	cl := chconn.Config{Database: "ioc", Cluster: "sonla"}
	cl.Defaults()
	e, err := NewEngine(Config{}, kafkaconn.Config{}, cl, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := NewParams("ioc", time.Date(2021, 6, 30, 17, 0, 0, 0, event.Location))
	check := func(file, by, state string) {
		q, err := e.RenderDrill(file, p, by, state)
		if err != nil {
			t.Errorf("%s by %q: %v", file, by, err)
			return
		}
		if strings.Contains(q, "<no value>") || strings.Contains(q, "{{") || !strings.Contains(q, "_raw_all") {
			t.Errorf("%s by %q renders incompletely or not over the Distributed tables:\n%s", file, by, q)
		}
	}
	for _, d := range Defs {
		for _, by := range Dimensions(d.ID) {
			if by != ByMonth {
				check(drillQuery[d.Query][by], by, "")
			}
		}
	}
	check("dossier_list.sql", "", StateLate)
	check("dossier_list.sql", "", StateNearDue)
	check("unit_names.sql", "", "")
	if q, _ := e.RenderDrill("dossiers.sql", p, ByField, ""); !strings.Contains(q, "field AS key") {
		t.Errorf("dossiers by field does not group by field")
	}
	if q, _ := e.RenderDrill("reform_plan.sql", p, ByUnit, ""); !strings.Contains(q, "owner_unit") {
		t.Errorf("reform plan by unit does not group by owner unit")
	}
}
