package stream

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

// readingRows holds a batch of readings column by column, the form
// clickhouse-go sends without per-row reflection.
type readingRows struct {
	eventID, partner, device, metric, unit, vs, ward []string
	kind                                             []int8
	value                                            []float64
	vb, fromSource, registered                       []uint8
	observedAt, receivedAt                           []time.Time
	observedMs, receivedMs, offset                   []int64
	partition                                        []int32
}

func (b *readingRows) len() int { return len(b.eventID) }

func (b *readingRows) add(r *event.Reading, partition int, offset int64) {
	b.eventID = append(b.eventID, r.ID)
	b.partner = append(b.partner, r.Partner)
	b.device = append(b.device, r.DeviceID)
	b.metric = append(b.metric, r.Metric)
	b.kind = append(b.kind, int8(r.Kind))
	b.value = append(b.value, r.Value)
	b.vs = append(b.vs, r.String)
	b.vb = append(b.vb, boolByte(r.Bool))
	b.unit = append(b.unit, r.Unit)
	b.observedAt = append(b.observedAt, time.UnixMilli(r.ObservedMs))
	b.observedMs = append(b.observedMs, r.ObservedMs)
	b.receivedAt = append(b.receivedAt, time.UnixMilli(r.ReceivedMs))
	b.receivedMs = append(b.receivedMs, r.ReceivedMs)
	b.fromSource = append(b.fromSource, boolByte(r.TimeFromSource))
	b.ward = append(b.ward, r.Ward)
	b.registered = append(b.registered, boolByte(r.Registered))
	b.partition = append(b.partition, int32(partition))
	b.offset = append(b.offset, offset)
}

// drop removes the readings marked in out, keeping the order of the rest;
// it returns how many it removed.
func (b *readingRows) drop(out []bool) int {
	k := 0
	for i := range b.eventID {
		if out[i] {
			continue
		}
		b.eventID[k], b.partner[k], b.device[k], b.metric[k], b.unit[k] = b.eventID[i], b.partner[i], b.device[i], b.metric[i], b.unit[i]
		b.vs[k], b.ward[k], b.kind[k], b.value[k], b.vb[k] = b.vs[i], b.ward[i], b.kind[i], b.value[i], b.vb[i]
		b.fromSource[k], b.registered[k], b.observedAt[k], b.receivedAt[k] = b.fromSource[i], b.registered[i], b.observedAt[i], b.receivedAt[i]
		b.observedMs[k], b.receivedMs[k], b.offset[k], b.partition[k] = b.observedMs[i], b.receivedMs[i], b.offset[i], b.partition[i]
		k++
	}
	n := len(b.eventID) - k
	b.eventID, b.partner, b.device, b.metric, b.unit = b.eventID[:k], b.partner[:k], b.device[:k], b.metric[:k], b.unit[:k]
	b.vs, b.ward, b.kind, b.value, b.vb = b.vs[:k], b.ward[:k], b.kind[:k], b.value[:k], b.vb[:k]
	b.fromSource, b.registered, b.observedAt, b.receivedAt = b.fromSource[:k], b.registered[:k], b.observedAt[:k], b.receivedAt[:k]
	b.observedMs, b.receivedMs, b.offset, b.partition = b.observedMs[:k], b.receivedMs[:k], b.offset[:k], b.partition[:k]
	return n
}

// repeats marks every reading whose key comes again later in the batch:
// the last copy is the one kept, as a merge of sensor_readings_raw keeps
// the last inserted.
func (b *readingRows) repeats() []bool {
	out := make([]bool, len(b.eventID))
	seen := make(map[string]struct{}, len(b.eventID))
	for i := len(b.eventID) - 1; i >= 0; i-- {
		if _, dup := seen[b.eventID[i]]; dup {
			out[i] = true
			continue
		}
		seen[b.eventID[i]] = struct{}{}
	}
	return out
}

func (b *readingRows) reset() {
	*b = readingRows{
		eventID: b.eventID[:0], partner: b.partner[:0], device: b.device[:0], metric: b.metric[:0], unit: b.unit[:0],
		vs: b.vs[:0], ward: b.ward[:0], kind: b.kind[:0], value: b.value[:0], vb: b.vb[:0], fromSource: b.fromSource[:0],
		registered: b.registered[:0], observedAt: b.observedAt[:0], receivedAt: b.receivedAt[:0], observedMs: b.observedMs[:0],
		receivedMs: b.receivedMs[:0], offset: b.offset[:0], partition: b.partition[:0],
	}
}

func (b *readingRows) send(ctx context.Context, conn driver.Conn, table string) error {
	return sendColumns(ctx, conn, "insert_readings.sql", table,
		b.eventID, b.partner, b.device, b.metric, b.kind, b.value, b.vs, b.vb, b.unit,
		b.observedAt, b.observedMs, b.receivedAt, b.receivedMs, b.fromSource, b.ward, b.registered, b.partition, b.offset)
}

// deadLetterRows holds a batch of dead letters.
type deadLetterRows struct {
	id, source, sourceTopic, reason, detail, raw []string
	receivedAt                                   []time.Time
	receivedMs                                   []int64
}

func (b *deadLetterRows) len() int { return len(b.id) }

func (b *deadLetterRows) add(d *event.DeadLetter) {
	b.id = append(b.id, d.ID)
	b.source = append(b.source, d.Source)
	b.sourceTopic = append(b.sourceTopic, d.SourceTopic)
	b.reason = append(b.reason, string(d.Reason))
	b.detail = append(b.detail, d.Detail)
	b.raw = append(b.raw, string(d.Raw))
	b.receivedAt = append(b.receivedAt, time.UnixMilli(d.ReceivedMs))
	b.receivedMs = append(b.receivedMs, d.ReceivedMs)
}

func (b *deadLetterRows) reset() {
	*b = deadLetterRows{id: b.id[:0], source: b.source[:0], sourceTopic: b.sourceTopic[:0], reason: b.reason[:0],
		detail: b.detail[:0], raw: b.raw[:0], receivedAt: b.receivedAt[:0], receivedMs: b.receivedMs[:0]}
}

func (b *deadLetterRows) send(ctx context.Context, conn driver.Conn, table string) error {
	return sendColumns(ctx, conn, "insert_dead_letters.sql", table,
		b.id, b.source, b.sourceTopic, b.reason, b.detail, b.raw, b.receivedAt, b.receivedMs)
}

//go:embed sql/*.sql
var sqlFS embed.FS

// inserts are sql/insert_*.sql: the column list of each table's insert.
var inserts = sqltmpl.MustParse(sqlFS, nil, nil, "sql/*.sql")

// sendColumns runs one columnar INSERT: the statement of sql/file into
// table, cols in the order of its column list.
func sendColumns(ctx context.Context, conn driver.Conn, file, table string, cols ...any) error {
	query, err := inserts.Render(file, map[string]any{"Table": table})
	if err != nil {
		return err
	}
	batch, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("preparing insert: %w", err)
	}
	defer batch.Abort()
	for i, c := range cols {
		if err := batch.Column(i).Append(c); err != nil {
			return fmt.Errorf("filling column %d: %w", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("sending insert: %w", err)
	}
	return nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// statusRows holds a batch of device and feed status changes.
type statusRows struct {
	id, kind, device, partner, typ, ward, status, previous, cause []string
	at                                                            []time.Time
	atMs, lastSeen                                                []int64
	interval                                                      []uint32
}

func (b *statusRows) len() int { return len(b.id) }

func (b *statusRows) add(s *event.DeviceStatus) {
	b.id = append(b.id, s.ID)
	b.kind = append(b.kind, s.Kind)
	b.device = append(b.device, s.DeviceID)
	b.partner = append(b.partner, s.Partner)
	b.typ = append(b.typ, s.Type)
	b.ward = append(b.ward, s.Ward)
	b.status = append(b.status, s.Status)
	b.previous = append(b.previous, s.Previous)
	b.cause = append(b.cause, s.Cause)
	b.at = append(b.at, time.UnixMilli(s.AtMs))
	b.atMs = append(b.atMs, s.AtMs)
	b.lastSeen = append(b.lastSeen, s.LastSeenMs)
	b.interval = append(b.interval, uint32(max(s.IntervalS, 0)))
}

func (b *statusRows) reset() { *b = statusRows{} }

func (b *statusRows) send(ctx context.Context, conn driver.Conn, table string) error {
	return sendColumns(ctx, conn, "insert_status.sql", table,
		b.id, b.kind, b.device, b.partner, b.typ, b.ward, b.status, b.previous, b.cause, b.at, b.atMs, b.lastSeen, b.interval)
}

// alertRows holds a batch of alert transitions.
type alertRows struct {
	id, alertID, rule, kind, severity, state, subject, device, partner, ward, metric, stage, message, operator, note []string
	seq                                                                                                              []uint32
	level, acked                                                                                                     []uint8
	value, threshold                                                                                                 []float64
	openedAt, at                                                                                                     []time.Time
	openedMs, atMs                                                                                                   []int64
}

func (b *alertRows) len() int { return len(b.id) }

func (b *alertRows) add(a *event.AlertEvent) {
	b.id = append(b.id, a.ID)
	b.alertID = append(b.alertID, a.AlertID)
	b.rule = append(b.rule, a.Rule)
	b.kind = append(b.kind, a.Kind)
	b.severity = append(b.severity, a.Severity)
	b.state = append(b.state, a.State)
	b.seq = append(b.seq, uint32(max(a.Seq, 0)))
	b.level = append(b.level, uint8(min(max(a.Level, 0), 255)))
	b.acked = append(b.acked, boolByte(a.Acked))
	b.subject = append(b.subject, a.Subject)
	b.device = append(b.device, a.DeviceID)
	b.partner = append(b.partner, a.Partner)
	b.ward = append(b.ward, a.Ward)
	b.metric = append(b.metric, a.Metric)
	b.value = append(b.value, a.Value)
	b.threshold = append(b.threshold, a.Threshold)
	b.stage = append(b.stage, a.Stage)
	b.message = append(b.message, a.Message)
	b.openedAt = append(b.openedAt, time.UnixMilli(a.OpenedMs))
	b.openedMs = append(b.openedMs, a.OpenedMs)
	b.at = append(b.at, time.UnixMilli(a.AtMs))
	b.atMs = append(b.atMs, a.AtMs)
	b.operator = append(b.operator, a.Operator)
	b.note = append(b.note, a.Note)
}

func (b *alertRows) reset() { *b = alertRows{} }

func (b *alertRows) send(ctx context.Context, conn driver.Conn, table string) error {
	return sendColumns(ctx, conn, "insert_alerts.sql", table,
		b.id, b.alertID, b.rule, b.kind, b.severity, b.state, b.seq, b.level, b.acked, b.subject, b.device, b.partner,
		b.ward, b.metric, b.value, b.threshold, b.stage, b.message, b.openedAt, b.openedMs, b.at, b.atMs, b.operator, b.note)
}
