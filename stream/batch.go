package stream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/fnv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/schema"
)

// batch is what one flush writes: the stream's kafkaconn.Batch.
type batch struct {
	s        *Service
	conn     driver.Conn
	readings readingRows
	dead     deadLetterRows
	status   statusRows
	alerts   alertRows
	ids      map[string]struct{} // event ids of the readings, to count duplicates
	repeated int                 // readings whose event id was already in ids
	// records hashes the Kafka position of every record added: the
	// batch's insert_deduplication_token on a cluster (dedupToken).
	records hash.Hash64
	n       int
	// attempts counts the Flush calls of the batch: a retry is written
	// unsettled (schema.Lowerer), as its first insert may still land.
	attempts int
	// full topic names, to tell the records apart
	readingsTopic, deadTopic, statusTopic string
}

func (s *Service) newBatch(conn driver.Conn) *batch {
	return &batch{s: s, conn: conn, ids: map[string]struct{}{}, records: fnv.New64a(), readingsTopic: s.kafka.Topic(event.TopicReadings),
		deadTopic: s.kafka.Topic(event.TopicDeadLetter), statusTopic: s.kafka.Topic(event.TopicDeviceStatus)}
}

// Len is the rows of the batch, of every table.
func (b *batch) Len() int { return b.readings.len() + b.dead.len() + b.status.len() + b.alerts.len() }

// Add decodes a record of one of the four topics into its rows.
func (b *batch) Add(m kafka.Message) {
	s := b.s
	var pos [12]byte
	binary.LittleEndian.PutUint32(pos[:4], uint32(m.Partition))
	binary.LittleEndian.PutUint64(pos[4:], uint64(m.Offset))
	b.records.Write([]byte(m.Topic))
	b.records.Write(pos[:])
	b.n++
	switch m.Topic {
	case b.readingsTopic:
		s.m.consumed.WithLabelValues("readings").Inc()
		s.addReading(b, m)
	case b.deadTopic:
		s.m.consumed.WithLabelValues("dead_letters").Inc()
		s.addDeadLetter(b, m)
	case b.statusTopic:
		s.m.consumed.WithLabelValues("status").Inc()
		s.addStatus(b, m)
	default:
		s.m.consumed.WithLabelValues("alerts").Inc()
		s.addAlert(b, m)
	}
}

// Flush writes the batch to ClickHouse (kafkaconn.GroupConsumer retries it
// and commits after).
func (b *batch) Flush(ctx context.Context) error {
	b.attempts++
	return b.s.insert(ctx, b.conn, b)
}

// Reset empties the batch once it is written and committed.
func (b *batch) Reset() {
	b.readings.reset()
	b.dead.reset()
	b.status.reset()
	b.alerts.reset()
	clear(b.ids)
	b.repeated = 0
	b.records.Reset()
	b.n = 0
	b.attempts = 0
}

// dedupToken is the batch's insert_deduplication_token where replicated
// tables honour it (a cluster on ClickHouse 22.2 or newer; "" elsewhere):
// the same Kafka records give the same token, so a batch retried after an
// insert whose answer was lost is dropped by each shard instead of being
// stored twice. On 18.16 replicated tables compare a block's hash only,
// and the block holds inserted_at (DEFAULT now()): a retry in another
// second is not recognised, and the view's FINAL hides the copy
// (docs/clickhouse.md).
func dedupToken(cluster string, server schema.Version, records uint64, n int) string {
	if cluster == "" || !server.AtLeast(22, 2) || n == 0 {
		return ""
	}
	return fmt.Sprintf("ioc-stream-%016x-%d", records, n)
}

func (s *Service) addReading(b *batch, m kafka.Message) {
	var r event.Reading
	// Decoded once per process for every follower (event.SharedReadings).
	if err := event.Readings.DecodeValid(m.Value, &r); err != nil {
		// A record that bypassed ingest's checks: keep it, with why.
		dl := event.NewDeadLetter("kafka", kafkaconn.RecordSource(m), m.Value, m.Time.UnixMilli(), err)
		b.dead.add(&dl)
		s.m.invalid.WithLabelValues(string(dl.Reason)).Inc()
		return
	}
	if _, dup := b.ids[r.ID]; dup {
		// Still inserted: the view keeps one row per event id, and which
		// copy wins is ClickHouse's rule (the last inserted), not ours.
		s.m.duplicates.Inc()
		b.repeated++
	} else {
		b.ids[r.ID] = struct{}{}
	}
	b.readings.add(&r, m.Partition, m.Offset)
}

// addStatus and addAlert keep the monitor's records; one that does not
// decode becomes a dead letter like a broken reading.
func (s *Service) addStatus(b *batch, m kafka.Message) {
	var st event.DeviceStatus
	if err := json.Unmarshal(m.Value, &st); err != nil || st.ID == "" || st.AtMs <= 0 || st.AtMs >= 4102444800000 {
		s.deadRecord(b, m, "device status record without id or time")
		return
	}
	b.status.add(&st)
}

func (s *Service) addAlert(b *batch, m kafka.Message) {
	var a event.AlertEvent
	if err := json.Unmarshal(m.Value, &a); err != nil || a.ID == "" || a.AlertID == "" || a.AtMs <= 0 || a.AtMs >= 4102444800000 ||
		a.OpenedMs <= 0 || a.OpenedMs >= 4102444800000 {
		s.deadRecord(b, m, "alert record without ids or times")
		return
	}
	b.alerts.add(&a)
}

func (s *Service) deadRecord(b *batch, m kafka.Message, why string) {
	d := event.NewDeadLetter("kafka", kafkaconn.RecordSource(m), m.Value, m.Time.UnixMilli(), event.Invalid(event.ReasonBadRecord, "%s", why))
	s.m.invalid.WithLabelValues(string(d.Reason)).Inc()
	b.dead.add(&d)
}

func (s *Service) addDeadLetter(b *batch, m kafka.Message) {
	var d event.DeadLetter
	if err := event.UnmarshalDeadLetter(m.Value, &d); err != nil || d.ID == "" {
		if err == nil {
			err = event.Invalid(event.ReasonBadRecord, "dead letter without id")
		}
		d = event.NewDeadLetter("kafka", kafkaconn.RecordSource(m), m.Value, m.Time.UnixMilli(), err)
		s.m.invalid.WithLabelValues(string(d.Reason)).Inc()
	}
	b.dead.add(&d)
}

// written counts a batch ClickHouse took (before its offsets are
// committed); it is the batch being flushed, not yet reset.
func (s *Service) written(b *batch, rows int, took time.Duration) {
	s.m.insertSeconds.Observe(took.Seconds())
	s.m.clickhouseUp.Set(1)
	s.m.rows.WithLabelValues("sensor_readings").Add(float64(b.readings.len()))
	s.m.rows.WithLabelValues("dead_letters").Add(float64(b.dead.len()))
	s.m.rows.WithLabelValues("device_status_events").Add(float64(b.status.len()))
	s.m.rows.WithLabelValues("alert_events").Add(float64(b.alerts.len()))
	s.m.batchRows.Observe(float64(rows))
}

// prepareReadings keeps the analyst view exact for the batch's readings
// (schema.Lowerer). Settled, on a first attempt: each key once, what is
// stored left out, the rest inserted as the only copies of their keys, and
// the watermark left alone. Otherwise: a late batch's stored readings left
// out, and the watermark lowered below the rest before they are inserted.
func (s *Service) prepareReadings(ctx context.Context, conn driver.Conn, b *batch) error {
	n := b.readings.len()
	if n == 0 || s.wm == nil { // nil in cluster mode: the view is FINAL
		return nil
	}
	settled := b.attempts == 1 && s.wm.Settled()
	if settled && b.repeated > 0 { // the map of repeats only when Add saw one
		b.readings.drop(b.readings.repeats())
	}
	lookup := s.wm.Stored
	if settled {
		lookup = s.wm.StoredAll
	}
	start := time.Now()
	stored, err := lookup(ctx, conn, b.readings.partner, b.readings.device, b.readings.metric, b.readings.observedMs)
	if settled {
		s.m.lookupSeconds.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return fmt.Errorf("writing %d readings: %w", n, err)
	}
	if stored != nil {
		s.m.alreadyStored.Add(float64(b.readings.drop(stored)))
	}
	if settled || b.readings.len() == 0 {
		return nil
	}
	s.m.unsettled.Inc()
	// Before the readings: the analyst view must group them
	// (130_analyst_watermark.sql).
	low := b.readings.observedMs[0]
	for _, ms := range b.readings.observedMs[1:] {
		low = min(low, ms)
	}
	if err := s.wm.Cover(ctx, conn, low); err != nil {
		return fmt.Errorf("writing %d readings: %w", n, err)
	}
	return nil
}

// insertTimeout bounds a batch's lookup and insert (stream.settle_after
// must outlast it).
const insertTimeout = 60 * time.Second

// rowSender is one table's columns of a batch.
type rowSender interface {
	len() int
	send(ctx context.Context, conn driver.Conn, table string) error
}

func (s *Service) insert(ctx context.Context, conn driver.Conn, b *batch) error {
	ictx, cancel := context.WithTimeout(ctx, insertTimeout)
	defer cancel()
	if s.ch.Cluster != "" {
		if server, err := schema.ServerVersion(conn); err == nil {
			if tok := dedupToken(s.ch.Cluster, server, b.records.Sum64(), b.n); tok != "" {
				ictx = clickhouse.Context(ictx, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": tok}))
			}
		}
	}
	if err := s.prepareReadings(ictx, conn, b); err != nil {
		return err
	}
	for _, t := range []struct {
		rows        rowSender
		table, what string
	}{
		{&b.readings, "sensor_readings_raw", "readings"},
		{&b.dead, "dead_letters_raw", "dead letters"},
		{&b.status, "device_status_events_raw", "status changes"},
		{&b.alerts, "alert_events_raw", "alert transitions"},
	} {
		if t.rows.len() == 0 {
			continue
		}
		if err := t.rows.send(ictx, conn, s.ch.Table(t.table)); err != nil {
			return fmt.Errorf("writing %d %s to %s: %w", t.rows.len(), t.what, s.ch.Table(t.table), err)
		}
	}
	return nil
}
