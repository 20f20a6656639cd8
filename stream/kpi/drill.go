package kpi

import (
	"context"
	"embed"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

// Drill-downs: the breakdown behind a tile, by unit, by procedure field, by
// main task or by month, and the dossiers behind dossiers.late and
// dossiers.near_due. The queries (sql/drill/*.sql) are the tiles' own
// definitions at the point as_of, grouped by the key; by month is the
// tile's own query (its points are the month ends). So a drill-down taken
// at a tile's as_of adds up to the tile.

//go:embed sql/drill/*.sql
var drillFS embed.FS

// Dimensions of a drill-down.
const (
	ByUnit     = "unit"
	ByField    = "field"
	ByMainTask = "main_task"
	ByMonth    = "month"
)

// drillQuery says which drill query answers a tile by a dimension.
var drillQuery = map[string]map[string]string{
	"reform_plan": {ByMainTask: "reform_plan.sql", ByUnit: "reform_plan.sql"},
	"dossiers":    {ByUnit: "dossiers.sql", ByField: "dossiers.sql"},
	"procedures":  {ByField: "procedures.sql"},
	"documents":   {ByUnit: "documents.sql"},
	"signing":     {ByUnit: "units.sql"},
	"one_stop":    {ByUnit: "units.sql"},
}

// Dimensions lists the drill-downs a tile has, in the order to show them;
// nil for an unknown tile.
func Dimensions(id string) []string {
	d, ok := DefOf(id)
	if !ok {
		return nil
	}
	var out []string
	for _, by := range []string{ByMainTask, ByUnit, ByField} {
		if _, ok := drillQuery[d.Query][by]; ok {
			out = append(out, by)
		}
	}
	return append(out, ByMonth)
}

// DefOf returns the definition of a tile.
func DefOf(id string) (Def, bool) {
	for _, d := range Defs {
		if d.ID == id {
			return d, true
		}
	}
	return Def{}, false
}

// DrillRow is one line of a drill-down: a key (unit id, field, main task,
// or the month "2021-03") with its labels and the tile's figures for it.
type DrillRow struct {
	Key     string `json:"key"`
	LabelVI string `json:"label_vi"`
	LabelEN string `json:"label_en"`
	// Kind is the unit's kind in the registry (city, department, ward,
	// commune) for a drill-down by unit.
	Kind        string   `json:"kind,omitempty"`
	Numerator   float64  `json:"numerator"`
	Denominator *float64 `json:"denominator"`
	Value       *float64 `json:"value"`
	// Ms is the point of a month (its end, or as_of for the last).
	Ms int64 `json:"ms,omitempty"`
}

// drillParams are Params plus the dimension (and the dossier state).
type drillParams struct {
	Params
	By, State string
}

func (e *Engine) drillTemplate() (*sqltmpl.Set, error) {
	e.drillOnce.Do(func() {
		e.drillTmpl, e.drillErr = sqltmpl.Parse(drillFS, &e.ch, nil, "sql/drill/*.sql")
	})
	return e.drillTmpl, e.drillErr
}

// RenderDrill renders a drill query (for docs and tests).
func (e *Engine) RenderDrill(file string, p Params, by, state string) (string, error) {
	t, err := e.drillTemplate()
	if err != nil {
		return "", fmt.Errorf("parsing the drill-down queries: %w", err)
	}
	q, err := t.Render(file, drillParams{Params: p, By: by, State: state})
	if err != nil {
		return "", fmt.Errorf("rendering drill/%s: %w", file, err)
	}
	return q, nil
}

// Drill returns the breakdown of a tile by a dimension, as of a time (take
// the tile's as_of to match it).
func (e *Engine) Drill(ctx context.Context, conn driver.Conn, id, by string, asOf time.Time) ([]DrillRow, error) {
	d, ok := DefOf(id)
	if !ok {
		return nil, fmt.Errorf("no tile %q", id)
	}
	if !slices.Contains(Dimensions(id), by) {
		return nil, fmt.Errorf("tile %s has no drill-down by %q (it has: %v)", id, by, Dimensions(id))
	}
	p := NewParams(e.ch.Database, asOf)
	if by == ByMonth {
		rows, err := e.rows(ctx, conn, d.Query, p)
		if err != nil {
			return nil, err
		}
		t, err := e.tile(ctx, conn, Def{ID: d.ID, Shape: d.Shape}, p, filterRows(rows, id))
		if err != nil {
			return nil, err
		}
		out := make([]DrillRow, 0, len(t.Series))
		for _, pt := range t.Series {
			m := pt.At[:7]
			out = append(out, DrillRow{Key: m, LabelVI: m[5:] + "/" + m[:4], LabelEN: m, Numerator: pt.Numerator,
				Denominator: pt.Denominator, Value: pt.Value, Ms: pt.Ms})
		}
		return out, nil
	}
	q, err := e.RenderDrill(drillQuery[d.Query][by], p, by, "")
	if err != nil {
		return nil, err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("querying the drill-down of %s by %s: %w", id, by, err)
	}
	defer rs.Close()
	var out []DrillRow
	for rs.Next() {
		var tile string
		var r DrillRow
		if err := rs.Scan(&tile, &r.Key, &r.Numerator, &r.Denominator, &r.Value); err != nil {
			return nil, fmt.Errorf("reading the drill-down of %s by %s: %w", id, by, err)
		}
		if tile == id {
			out = append(out, r)
		}
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	var units map[string]Unit
	if by == ByUnit {
		if units, err = e.Units(ctx, conn, asOf); err != nil {
			return nil, err
		}
	}
	for i := range out {
		r := &out[i]
		r.LabelVI, r.LabelEN = r.Key, r.Key
		var l [2]string
		var ok bool
		switch by {
		case ByField:
			l, ok = FieldLabels[r.Key]
		case ByMainTask:
			l, ok = MainTaskLabels[r.Key]
		case ByUnit:
			if u, found := units[r.Key]; found {
				l, ok, r.Kind = [2]string{u.Name, u.Name}, true, u.Kind
			}
		}
		if ok {
			r.LabelVI, r.LabelEN = l[0], l[1]
		}
		if r.Key == "" {
			r.LabelVI, r.LabelEN = "(không rõ)", "(unknown)"
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindOrder(out[i].Kind) < kindOrder(out[j].Kind)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

func kindOrder(k string) int {
	return slices.Index([]string{"city", "department", "ward", "commune"}, k)
}

func filterRows(rows []row, id string) []row {
	var out []row
	for _, r := range rows {
		if r.tile == id {
			out = append(out, r)
		}
	}
	return out
}

// Unit is an entry of the registry of units.
type Unit struct {
	ID, Name, Kind string
}

// Units reads the registry of units as of a time.
func (e *Engine) Units(ctx context.Context, conn driver.Conn, asOf time.Time) (map[string]Unit, error) {
	q, err := e.RenderDrill("unit_names.sql", NewParams(e.ch.Database, asOf), "", "")
	if err != nil {
		return nil, err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("reading the registry of units: %w", err)
	}
	defer rs.Close()
	out := map[string]Unit{}
	for rs.Next() {
		var u Unit
		if err := rs.Scan(&u.ID, &u.Name, &u.Kind); err != nil {
			return nil, fmt.Errorf("reading the registry of units: %w", err)
		}
		out[u.ID] = u
	}
	return out, rs.Err()
}

// Dossier states of the dossier lists.
const (
	StateLate    = "late"
	StateNearDue = "near_due"
)

// Dossier is a dossier of the list behind dossiers.late or dossiers.near_due.
type Dossier struct {
	ID        string `json:"dossier_id"`
	Procedure string `json:"procedure_code"`
	Unit      string `json:"unit"`
	UnitName  string `json:"unit_name"`
	Field     string `json:"field"`
	FieldVI   string `json:"field_vi"`
	FieldEN   string `json:"field_en"`
	// ReceivedMs, DueMs: epoch ms; ResolvedMs is 0 for an open dossier.
	ReceivedMs int64 `json:"received_ms"`
	DueMs      int64 `json:"due_ms"`
	ResolvedMs int64 `json:"resolved_ms"`
}

// Dossiers calls fn with each dossier counted by dossiers.late (state
// "late") or dossiers.near_due ("near_due") as of a time, most overdue
// first; rows stream from ClickHouse, none is held.
func (e *Engine) Dossiers(ctx context.Context, conn driver.Conn, state string, asOf time.Time, fn func(Dossier) error) error {
	if state != StateLate && state != StateNearDue {
		return fmt.Errorf("dossier state %q: want %s or %s", state, StateLate, StateNearDue)
	}
	units, err := e.Units(ctx, conn, asOf)
	if err != nil {
		return err
	}
	q, err := e.RenderDrill("dossier_list.sql", NewParams(e.ch.Database, asOf), "", state)
	if err != nil {
		return err
	}
	rs, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("listing the %s dossiers: %w", state, err)
	}
	defer rs.Close()
	for rs.Next() {
		var d Dossier
		if err := rs.Scan(&d.ID, &d.Procedure, &d.Unit, &d.Field, &d.ReceivedMs, &d.DueMs, &d.ResolvedMs); err != nil {
			return fmt.Errorf("reading the %s dossiers: %w", state, err)
		}
		d.UnitName = units[d.Unit].Name
		d.FieldVI, d.FieldEN = d.Field, d.Field
		if l, ok := FieldLabels[d.Field]; ok {
			d.FieldVI, d.FieldEN = l[0], l[1]
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return rs.Err()
}

// AsOfTime is a tile's as_of as a time in the city's zone.
func AsOfTime(ms int64) time.Time { return time.UnixMilli(ms).In(event.Location) }
