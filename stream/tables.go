package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/event"
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

func (b *readingRows) reset() {
	*b = readingRows{
		eventID: b.eventID[:0], partner: b.partner[:0], device: b.device[:0], metric: b.metric[:0], unit: b.unit[:0],
		vs: b.vs[:0], ward: b.ward[:0], kind: b.kind[:0], value: b.value[:0], vb: b.vb[:0], fromSource: b.fromSource[:0],
		registered: b.registered[:0], observedAt: b.observedAt[:0], receivedAt: b.receivedAt[:0], observedMs: b.observedMs[:0],
		receivedMs: b.receivedMs[:0], offset: b.offset[:0], partition: b.partition[:0],
	}
}

// insertReadings names the table: database.sensor_readings_raw on one node,
// the Distributed table database.sensor_readings_raw_all in cluster mode
// (chconn.Config.Table).
const insertReadings = `INSERT INTO %s (event_id, partner, device_id, metric, value_kind, value,
 value_string, value_bool, unit, observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered,
 kafka_partition, kafka_offset)`

func (b *readingRows) send(ctx context.Context, conn driver.Conn, table string) error {
	return sendColumns(ctx, conn, fmt.Sprintf(insertReadings, table),
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

const insertDeadLetters = `INSERT INTO %s (dl_id, source, source_topic, reason, detail, raw, received_at, received_ms)`

func (b *deadLetterRows) send(ctx context.Context, conn driver.Conn, table string) error {
	return sendColumns(ctx, conn, fmt.Sprintf(insertDeadLetters, table),
		b.id, b.source, b.sourceTopic, b.reason, b.detail, b.raw, b.receivedAt, b.receivedMs)
}

// sendColumns runs one columnar INSERT.
func sendColumns(ctx context.Context, conn driver.Conn, query string, cols ...any) error {
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
