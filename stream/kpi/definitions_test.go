package kpi

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// The settled definitions of docs/kpis.md ("Settled readings"), each
// against the real ClickHouse: a database of its own with the schema, a
// few events written as the feed consumer writes them, and the engine's
// Compute.

type defsDB struct {
	ctx  context.Context
	conn driver.Conn
	ch   chconn.Config
	e    *Engine
}

func newDefsDB(t *testing.T) *defsDB {
	t.Helper()
	ch, conn := chtest.Migrated(t, "ioc_kpidef", schema.Migrate)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e, err := NewEngine(Config{}, kafkaconn.Config{}, ch, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &defsDB{ctx: ctx, conn: conn, ch: ch, e: e}
}

func msTime(v int64) time.Time { return time.UnixMilli(v) }

// dateCol is a Date column's value for a city-time midnight (as the feed
// consumer writes it).
func dateCol(t time.Time) time.Time {
	y, m, d := t.In(event.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// add validates events as ingest does (versions included) and inserts
// them with the feed consumer's columns (stream/feeds/rows.go).
func (d *defsDB) add(t *testing.T, evs ...event.AdminEvent) {
	t.Helper()
	for _, ev := range evs {
		if err := event.PrepareAdmin(ev, time.Now().UnixMilli(), event.DefaultAdminLimits); err != nil {
			t.Fatalf("%T %+v: %v", ev, ev, err)
		}
		m := ev.Meta()
		var table, cols string
		var vals []any
		switch x := ev.(type) {
		case *event.Dossier:
			table, cols = "dossier_events_raw", "event_id, dossier_id, procedure_code, unit, channel, state, at, at_ms, received_at, received_ms, due_at, due_ms"
			vals = []any{x.ID, x.DossierID, x.ProcedureCode, x.Unit, x.Channel, x.State, msTime(x.AtMs), x.AtMs,
				msTime(x.ReceivedMs), x.ReceivedMs, msTime(x.DueMs), x.DueMs}
		case *event.Document:
			signed := uint8(0)
			if *x.Signed {
				signed = 1
			}
			table, cols = "documents_raw", "event_id, document_id, unit, number, doc_type, issued_at, issued_ms, signed"
			vals = []any{x.ID, x.DocumentID, x.Unit, x.Number, x.DocType, msTime(x.IssuedMs), x.IssuedMs, signed}
		case *event.Unit:
			sig, shop := uint8(0), uint8(0)
			if *x.DigitalSignature {
				sig = 1
			}
			if x.OneStopShop {
				shop = 1
			}
			table, cols = "org_unit_events_raw", "event_id, unit_id, name, kind, one_stop_shop, digital_signature, status, at, at_ms"
			vals = []any{x.ID, x.UnitID, x.Name, x.UnitKind, shop, sig, x.Status, msTime(x.AtMs), x.AtMs}
		case *event.PortalDay:
			table, cols = "portal_traffic_raw", "event_id, day, day_ms, visits, interactions"
			vals = []any{x.ID, dateCol(x.DayStart), x.DayStart.UnixMilli(), uint64(*x.Visits), uint64(*x.Interactions)}
		default:
			t.Fatalf("no insert for %T", ev)
		}
		b, err := d.conn.PrepareBatch(d.ctx, "INSERT INTO "+d.ch.Table(table)+" ("+cols+", version, source, ingested_ms, kafka_partition, kafka_offset)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(append(vals, m.VersionMs, m.Source, m.ReceivedMs, int32(0), int64(0))...); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
}

// compute returns the tiles as of a time, by id.
func (d *defsDB) compute(t *testing.T, asOf time.Time) map[string]event.Tile {
	t.Helper()
	tiles, err := d.e.Compute(d.ctx, d.conn, asOf)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]event.Tile{}
	for _, x := range tiles {
		out[x.ID] = x
	}
	return out
}

// at is a time of the city's calendar, "2006-01-02 15:04".
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, event.Location)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func rfc(t time.Time) string { return t.Format(time.RFC3339) }

// point returns a tile's point at a day (2006-01-02).
func point(t *testing.T, x event.Tile, day string) event.Point {
	t.Helper()
	for _, p := range x.Series {
		if p.At == day {
			return p
		}
	}
	t.Fatalf("tile %s has no point at %s (%+v)", x.ID, day, x.Series)
	return event.Point{}
}

func val(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}

// A dossier's due time at a month-end point is that of its latest event at
// that point: a due time set later (a request for additional documents in
// February) does not make a dossier that was past due on 31 January on
// time in January's figure. (Read from the latest event overall, January's
// dossiers.late was 0.)
func TestDueTimeAtThePoint(t *testing.T) {
	d := newDefsDB(t)
	dossier := func(state, when, due string) *event.Dossier {
		return &event.Dossier{DossierID: "hs-1", ProcedureCode: "tp-01", Unit: "ubnd-tp", Channel: "online", State: state,
			At: rfc(at(t, when)), ReceivedAt: rfc(at(t, "2021-01-05 08:00")), DueAt: rfc(at(t, due))}
	}
	d.add(t,
		dossier("received", "2021-01-05 08:00", "2021-01-20 17:00"),
		dossier("supplement_requested", "2021-02-03 09:00", "2021-02-26 17:00"),
		dossier("resolved", "2021-02-15 10:00", "2021-02-26 17:00"),
	)
	tiles := d.compute(t, at(t, "2021-02-20 12:00"))
	for _, c := range []struct {
		tile, day   string
		numerator   float64
		value       string
		denominator string
	}{
		{"dossiers.late", "2021-01-31", 1, "1", "1"},      // open on 31 January, due 20 January
		{"dossiers.late", "2021-02-20", 0, "0", "1"},      // resolved on 15 February, due 26 February
		{"dossiers.on_time", "2021-02-20", 1, "100", "1"}, // on time by the due time it had then
		{"dossiers.near_due", "2021-01-31", 0, "0", "1"},
	} {
		p := point(t, tiles[c.tile], c.day)
		if p.Numerator != c.numerator || val(p.Value) != c.value || val(p.Denominator) != c.denominator {
			t.Errorf("%s at %s: %v / %s = %s, want %v / %s = %s", c.tile, c.day, p.Numerator, val(p.Denominator), val(p.Value),
				c.numerator, c.denominator, c.value)
		}
	}
}

// The same calendar time a year before, for the year-on-year tiles.
func TestYearBefore(t *testing.T) {
	for _, c := range [][2]string{
		{"2024-02-29 10:00", "2023-02-28 10:00"}, // no 29 February in 2023: the month's last day, same time
		{"2021-06-30 17:00", "2020-06-30 17:00"},
		{"2025-02-28 23:59", "2024-02-28 23:59"}, // 29 February 2024 is not yet in the span
		{"2021-03-01 00:00", "2020-03-01 00:00"},
		{"2024-12-31 23:59", "2023-12-31 23:59"},
	} {
		if got := YearBefore(at(t, c[0])).Format("2006-01-02 15:04"); got != c[1] {
			t.Errorf("YearBefore(%s) = %s, want %s", c[0], got, c[1])
		}
	}
}

// As of 29 February 2024, last year's span ends on 28 February 2023 at the
// same time: 1 March 2023 is not in it (time.AddDate made it 1 March and
// counted that day).
func TestYearOnYearOnLeapDay(t *testing.T) {
	d := newDefsDB(t)
	day := func(s string, visits int64) *event.PortalDay {
		zero := int64(0)
		return &event.PortalDay{Day: s, Visits: &visits, Interactions: &zero}
	}
	d.add(t, day("2023-02-28", 100), day("2023-03-01", 1000), day("2024-02-28", 110), day("2024-02-29", 40))
	x := d.compute(t, at(t, "2024-02-29 10:00"))["portal.yoy"]
	if x.Numerator != 150 || val(x.Denominator) != "100" || val(x.Value) != "50" {
		t.Errorf("portal.yoy as of 2024-02-29 10:00: %v / %s = %s, want 150 / 100 = 50", x.Numerator, val(x.Denominator), val(x.Value))
	}
}

// A portal day stands for its first instant, 00:00 Asia/Ho_Chi_Minh: it
// counts at every point from then on (not from 07:00, UTC midnight), and
// in the month of its date.
func TestPortalDayIsCityMidnight(t *testing.T) {
	d := newDefsDB(t)
	day := func(s string, visits int64) *event.PortalDay {
		five := int64(5)
		return &event.PortalDay{Day: s, Visits: &visits, Interactions: &five}
	}
	d.add(t, day("2021-03-31", 100), day("2021-04-01", 1000))
	x := d.compute(t, at(t, "2021-04-01 03:00"))["portal.yoy"]
	if mar := point(t, x, "2021-03-31"); mar.Numerator != 105 {
		t.Errorf("March's point counts %v visits and interactions, want 105 (31 March only)", mar.Numerator)
	}
	if x.Numerator != 1110 {
		t.Errorf("as of 1 April 03:00, %v visits and interactions, want 1110 (1 April counts from its midnight)", x.Numerator)
	}
}

func doc(t *testing.T, id, unit, issued string, signed bool, reported string) *event.Document {
	s := signed
	d := &event.Document{DocumentID: id, Unit: unit, IssuedAt: rfc(at(t, issued)), Signed: &s}
	if reported != "" {
		d.ReportedAt = rfc(at(t, reported))
	}
	return d
}

func unit(t *testing.T, id, kind, when string) *event.Unit {
	yes := true
	return &event.Unit{UnitID: id, Name: id, UnitKind: kind, DigitalSignature: &yes, Status: "active", At: rfc(at(t, when))}
}

// documents.signed counts the documents of the units that were the city
// People's Committee (kind city) in the registry at the point: a later
// change of the registry leaves closed months as they were. (With the
// registry as it stands now, February's figure became 1/1.)
func TestDocumentsUnitsAtThePoint(t *testing.T) {
	d := newDefsDB(t)
	d.add(t,
		unit(t, "ubnd-tp", "city", "2020-01-01 00:00"),
		unit(t, "ubnd-cu", "city", "2020-01-01 00:00"),
		unit(t, "ubnd-cu", "department", "2021-03-15 08:00"), // moved under the committee as a department
		doc(t, "vb-1", "ubnd-tp", "2021-01-10 09:00", true, ""),
		doc(t, "vb-2", "ubnd-cu", "2021-02-10 09:00", false, ""),
		doc(t, "vb-3", "ubnd-cu", "2021-03-20 09:00", false, ""),
	)
	x := d.compute(t, at(t, "2021-04-10 12:00"))["documents.signed"]
	for _, c := range []struct {
		day, num, den string
	}{
		{"2021-01-31", "1", "1"},
		{"2021-02-28", "1", "2"}, // vb-2 was the committee's
		{"2021-03-31", "1", "1"}, // ubnd-cu is a department since 15 March
		{"2021-04-10", "1", "1"},
	} {
		p := point(t, x, c.day)
		if fmt.Sprint(p.Numerator) != c.num || val(p.Denominator) != c.den {
			t.Errorf("documents.signed at %s: %v / %s, want %s / %s", c.day, p.Numerator, val(p.Denominator), c.num, c.den)
		}
	}
}

// An event without reported_at is a version reported at its own time (a
// document's issue time): a correction with a later reported_at replaces
// it, one reported before it does not.
func TestReportedAtAgainstNone(t *testing.T) {
	d := newDefsDB(t)
	d.add(t,
		unit(t, "ubnd-tp", "city", "2020-01-01 00:00"),
		doc(t, "vb-a", "ubnd-tp", "2022-01-10 09:00", false, ""),
		doc(t, "vb-a", "ubnd-tp", "2022-01-10 09:00", true, "2022-01-11 08:00"), // a correction: it was signed
		doc(t, "vb-b", "ubnd-tp", "2022-01-10 09:00", true, ""),
		doc(t, "vb-b", "ubnd-tp", "2022-01-10 09:00", false, "2022-01-10 08:59"), // reported before the version it would replace
	)
	x := d.compute(t, at(t, "2022-01-20 12:00"))["documents.signed"]
	if x.Numerator != 2 || val(x.Denominator) != "2" {
		t.Errorf("documents.signed: %v / %s, want 2 / 2 (vb-a corrected to signed, vb-b's earlier report ignored)", x.Numerator, val(x.Denominator))
	}
}

// A tile's target is part of its definition: shown with no event at all
// (the reform-plan tiles before the plan's first task event), and the same
// as its SQL's where rows exist. (Read from the rows only, it was null.)
func TestTargetsWithoutEvents(t *testing.T) {
	d := newDefsDB(t)
	check := func(tiles map[string]event.Tile, when string) {
		t.Helper()
		for _, def := range Defs {
			x := tiles[def.ID]
			if val(x.Target) != val(def.Target) {
				t.Errorf("%s: %s target %s, want %s", when, def.ID, val(x.Target), val(def.Target))
			}
		}
	}
	empty := d.compute(t, at(t, "2021-06-30 17:00"))
	check(empty, "no events")
	if x := empty["reform_plan.done"]; x.Value != nil || val(x.Target) != "100" {
		t.Errorf("reform_plan.done with no task: value %s target %s, want null and 100", val(x.Value), val(x.Target))
	}
	d.add(t, unit(t, "ubnd-tp", "city", "2020-01-01 00:00"), doc(t, "vb-1", "ubnd-tp", "2021-01-10 09:00", true, ""))
	check(d.compute(t, at(t, "2021-06-30 17:00")), "with rows")
}
