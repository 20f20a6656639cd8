package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// CHWatch reads what the stream (or the peer) has written to the run's
// database.
type CHWatch struct {
	Conn driver.Conn
	DB   string
	// Table holds the readings (default sensor_readings_raw) and Key is
	// the expression that tells readings apart (default event_id).
	Table, Key string
	// Base is subtracted from Rows: the rows already in the table when a
	// second load shape starts on it.
	Base uint64
}

func (w *CHWatch) table() string {
	if w.Table == "" {
		return "sensor_readings_raw"
	}
	return w.Table
}

func (w *CHWatch) key() string {
	if w.Key == "" {
		return "event_id"
	}
	return w.Key
}

// Rows is the row count and the number of active parts of the readings
// table, from system.parts: instant, whatever the table's size. Every
// reading of a run has its own key, so merges do not change the count.
func (w *CHWatch) Rows(ctx context.Context) (rows, parts uint64, err error) {
	const q = "SELECT toUInt64(sum(rows)), count() FROM system.parts WHERE database = ? AND table = ? AND active"
	err = w.Conn.QueryRow(ctx, q, w.DB, w.table()).Scan(&rows, &parts)
	if rows >= w.Base {
		rows -= w.Base
	} else {
		rows = 0
	}
	return rows, parts, err
}

// WindowCount counts the rows and distinct readings observed within a
// window's time bounds (windows never overlap: each starts after the
// previous one drained).
func (w *CHWatch) WindowCount(ctx context.Context, firstMs, lastMs int64) (rows, unique uint64, err error) {
	q := fmt.Sprintf(`SELECT count(), uniqExact(%s) FROM %s.%s WHERE observed_ms BETWEEN %d AND %d`,
		w.key(), w.DB, w.table(), firstMs, lastMs)
	err = w.Conn.QueryRow(ctx, q).Scan(&rows, &unique)
	return rows, unique, err
}

// ProbeTimer times probe readings from publish to being visible in
// ClickHouse: it polls for the probe devices' rows and takes the time the
// answer arrived as the moment a row became visible. The error is at most
// one poll interval plus the query's own time, always towards later.
type ProbeTimer struct {
	mu      sync.Mutex
	pending map[probeKey]int64 // → published, µs
	rec     *Recorder
}

type probeKey struct {
	device string
	ms     int64
}

// NewProbeTimer starts empty.
func NewProbeTimer() *ProbeTimer {
	return &ProbeTimer{pending: map[probeKey]int64{}, rec: NewRecorder(1 << 20)}
}

// OnProbe registers a published probe reading (Schedule.OnProbe).
func (p *ProbeTimer) OnProbe(device string, ms, publishedUs int64) {
	p.mu.Lock()
	p.pending[probeKey{device, ms}] = publishedUs
	p.mu.Unlock()
}

// Pending is how many probes were not seen yet.
func (p *ProbeTimer) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// Summary of the latencies seen.
func (p *ProbeTimer) Summary() Summary { return p.rec.Summary() }

// Run polls until ctx ends.
func (p *ProbeTimer) Run(ctx context.Context, w *CHWatch, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.poll(ctx, w)
		}
	}
}

func (p *ProbeTimer) poll(ctx context.Context, w *CHWatch) {
	p.mu.Lock()
	devs := map[string]bool{}
	minMs := int64(1) << 62
	for k := range p.pending {
		devs[k.device] = true
		minMs = min(minMs, k.ms)
	}
	p.mu.Unlock()
	if len(devs) == 0 {
		return
	}
	var in strings.Builder
	for d := range devs {
		if in.Len() > 0 {
			in.WriteByte(',')
		}
		in.WriteString("'" + d + "'")
	}
	q := fmt.Sprintf(`SELECT device_id, observed_ms FROM %s.%s WHERE device_id IN (%s) AND observed_ms >= %d`,
		w.DB, w.table(), in.String(), minMs)
	rows, err := w.Conn.Query(ctx, q)
	if err != nil {
		return
	}
	defer rows.Close()
	var got []probeKey
	for rows.Next() {
		var k probeKey
		if err := rows.Scan(&k.device, &k.ms); err != nil {
			return
		}
		got = append(got, k)
	}
	seen := time.Now().UnixMicro()
	var lat []int64
	p.mu.Lock()
	for _, k := range got {
		if pub, ok := p.pending[k]; ok {
			lat = append(lat, seen-pub)
			delete(p.pending, k)
		}
	}
	p.mu.Unlock()
	p.rec.AddMany(lat)
}
