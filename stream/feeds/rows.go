package feeds

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/event"
)

// table is where the events of one kind land, and how one becomes a row.
type table struct {
	name    string
	columns string
	row     func(ev event.AdminEvent) []any
}

// The common tail of every row: version, producing system, first receipt
// and where in Kafka the event was read (for tracing a row to its record).
const tail = "version, source, ingested_ms, kafka_partition, kafka_offset"

func ms(v int64) time.Time { return time.UnixMilli(v) }

func b8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

var tables = map[event.AdminKind]table{
	event.KindProcedure: {"procedure_events_raw",
		"event_id, code, name, field, level, processing_days, status, at, at_ms, " +
			"decision_ms, basis_in_force_ms, posted_ms, posted_complete, full_online, fee_bearing, online_payment, paper_result, population_linked, " + tail,
		func(ev event.AdminEvent) []any {
			p := ev.(*event.Procedure)
			return []any{p.ID, p.Code, p.Name, p.Field, p.Level, uint16(*p.ProcessingDays), p.Status, ms(p.AtMs), p.AtMs,
				p.DecisionMs, p.BasisInForceMs, p.PostedMs, tri(p.PostedComplete), tri(p.FullOnline), tri(p.FeeBearing),
				tri(p.OnlinePayment), tri(p.PaperResult), tri(p.PopulationLinked)}
		}},
	event.KindDossier: {"dossier_events_raw",
		"event_id, dossier_id, procedure_code, unit, channel, state, at, at_ms, received_at, received_ms, due_at, due_ms, " +
			"full_online, fee_vnd, paid_online, inputs, inputs_digitised, inputs_reused, inputs_from_store, inputs_verified, " +
			"e_result, result_to_store, e_certified_copy, synced_national, applicant_rating, " + tail,
		func(ev event.AdminEvent) []any {
			d := ev.(*event.Dossier)
			fee := int64(-1)
			if d.FeeVND != nil {
				fee = *d.FeeVND
			}
			return []any{d.ID, d.DossierID, d.ProcedureCode, d.Unit, d.Channel, d.State, ms(d.AtMs), d.AtMs,
				ms(d.ReceivedMs), d.ReceivedMs, ms(d.DueMs), d.DueMs,
				tri(d.FullOnline), fee, tri(d.PaidOnline), count16(d.Inputs), count16(d.InputsDigitised), count16(d.InputsReused),
				count16(d.InputsFromStore), count16(d.InputsVerified), tri(d.EResult), tri(d.ResultToStore), tri(d.ECertifiedCopy),
				tri(d.SyncedNational), d.ApplicantRating}
		}},
	event.KindFeedback: {"feedback_events_raw",
		"event_id, feedback_id, unit, state, at, at_ms, received_at, received_ms, due_at, due_ms, likes, dislikes, " + tail,
		func(ev event.AdminEvent) []any {
			f := ev.(*event.Feedback)
			return []any{f.ID, f.FeedbackID, f.Unit, f.State, ms(f.AtMs), f.AtMs, ms(f.ReceivedMs), f.ReceivedMs,
				ms(f.DueMs), f.DueMs, count32(f.Likes), count32(f.Dislikes)}
		}},
	event.KindDocument: {"documents_raw",
		"event_id, document_id, unit, number, doc_type, issued_at, issued_ms, signed, " + tail,
		func(ev event.AdminEvent) []any {
			d := ev.(*event.Document)
			return []any{d.ID, d.DocumentID, d.Unit, d.Number, d.DocType, ms(d.IssuedMs), d.IssuedMs, b8(*d.Signed)}
		}},
	event.KindTask: {"task_events_raw",
		"event_id, task_id, plan, plan_year, main_task, title, owner_unit, due_date, due_ms, state, at, at_ms, " + tail,
		func(ev event.AdminEvent) []any {
			t := ev.(*event.Task)
			return []any{t.ID, t.TaskID, t.Plan, uint16(t.PlanYear), uint8(t.MainTask), t.Title, t.OwnerUnit,
				dateOf(t.DueDay), t.DueEnd, t.State, ms(t.AtMs), t.AtMs}
		}},
	event.KindBudget: {"budget_entries_raw",
		"event_id, entry_id, type, period, period_start, period_start_ms, year, amount_vnd, source, authority, at, at_ms, " +
			"version, system, ingested_ms, kafka_partition, kafka_offset",
		func(ev event.AdminEvent) []any {
			b := ev.(*event.BudgetEntry)
			return []any{b.ID, b.EntryID, b.Type, b.Period, dateOf(b.PeriodStart), b.PeriodStart.UnixMilli(), uint16(b.Year),
				*b.AmountVND, b.Source, b.Authority, ms(b.AtMs), b.AtMs}
		}},
	event.KindPortal: {"portal_traffic_raw",
		"event_id, day, day_ms, visits, interactions, " + tail,
		func(ev event.AdminEvent) []any {
			p := ev.(*event.PortalDay)
			return []any{p.ID, dateOf(p.DayStart), p.DayStart.UnixMilli(), uint64(*p.Visits), uint64(*p.Interactions)}
		}},
	event.KindRating: {"shop_ratings_raw",
		"event_id, unit, period, period_year, rating, rated_at, rated_ms, " + tail,
		func(ev event.AdminEvent) []any {
			r := ev.(*event.Rating)
			return []any{r.ID, r.Unit, r.Period, uint16(r.PeriodYear), r.Rating, ms(r.RatedMs), r.RatedMs}
		}},
	event.KindUnit: {"org_unit_events_raw",
		"event_id, unit_id, name, kind, one_stop_shop, digital_signature, status, at, at_ms, " + tail,
		func(ev event.AdminEvent) []any {
			u := ev.(*event.Unit)
			return []any{u.ID, u.UnitID, u.Name, u.UnitKind, b8(u.OneStopShop), b8(*u.DigitalSignature), u.Status, ms(u.AtMs), u.AtMs}
		}},
}

// tri stores an optional flag: 1 true, 0 false, -1 not reported.
func tri(b *bool) int8 {
	switch {
	case b == nil:
		return -1
	case *b:
		return 1
	}
	return 0
}

// count16 and count32 store an optional count, -1 when not reported.
func count16(v *int) int16 {
	if v == nil {
		return -1
	}
	return int16(*v) // validated to 0..1000
}

func count32(v *int) int32 {
	if v == nil {
		return -1
	}
	return int32(*v) // validated to 0..10^6
}

// dateOf gives a Date column value for a midnight in city time: the driver
// takes the calendar date of the time as given, in UTC, so the time is
// moved to UTC midnight of the same date.
func dateOf(t time.Time) time.Time {
	y, m, d := t.In(event.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// rows collects the rows of one table for one insert.
type rows struct {
	tab  table
	vals [][]any
}

func (r *rows) add(ev event.AdminEvent, partition int, offset int64) {
	m := ev.Meta()
	v := r.tab.row(ev)
	v = append(v, m.VersionMs, m.Source, m.ReceivedMs, int32(partition), offset)
	r.vals = append(r.vals, v)
}

func (r *rows) send(ctx context.Context, conn driver.Conn, fullTable string) error {
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s (%s)", fullTable, r.tab.columns))
	if err != nil {
		return fmt.Errorf("preparing insert into %s: %w", fullTable, err)
	}
	defer b.Abort()
	for _, v := range r.vals {
		if err := b.Append(v...); err != nil {
			return fmt.Errorf("filling insert into %s: %w", fullTable, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("sending insert into %s: %w", fullTable, err)
	}
	return nil
}

// deadRows are the dead letters of one batch (records that fail validation
// in stream: a producer that bypassed the HTTP endpoint's checks).
type deadRows struct{ vals [][]any }

const insertDead = "INSERT INTO %s (dl_id, source, source_topic, reason, detail, raw, received_at, received_ms)"

func (d *deadRows) add(dl *event.DeadLetter) {
	d.vals = append(d.vals, []any{dl.ID, dl.Source, dl.SourceTopic, string(dl.Reason), dl.Detail, string(dl.Raw),
		time.UnixMilli(dl.ReceivedMs), dl.ReceivedMs})
}

func (d *deadRows) send(ctx context.Context, conn driver.Conn, fullTable string) error {
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf(insertDead, fullTable))
	if err != nil {
		return fmt.Errorf("preparing insert into %s: %w", fullTable, err)
	}
	defer b.Abort()
	for _, v := range d.vals {
		if err := b.Append(v...); err != nil {
			return fmt.Errorf("filling insert into %s: %w", fullTable, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("sending insert into %s: %w", fullTable, err)
	}
	return nil
}

// Insert writes prepared events (event.PrepareAdmin) to their tables with
// the consumer's own columns, without Kafka (partition and offset 0): for
// tests and tools that seed ClickHouse directly.
func Insert(ctx context.Context, conn driver.Conn, ch interface{ Table(string) string }, evs ...event.AdminEvent) error {
	by := map[event.AdminKind]*rows{}
	var order []event.AdminKind
	for _, ev := range evs {
		r := by[ev.Kind()]
		if r == nil {
			tab, ok := tables[ev.Kind()]
			if !ok {
				return fmt.Errorf("inserting events: no table for kind %s", ev.Kind())
			}
			r = &rows{tab: tab}
			by[ev.Kind()] = r
			order = append(order, ev.Kind())
		}
		r.add(ev, 0, 0)
	}
	for _, k := range order {
		if err := by[k].send(ctx, conn, ch.Table(by[k].tab.name)); err != nil {
			return err
		}
	}
	return nil
}
