package faults

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/event"
)

// The load generator publishes one SenML reading per message, each with a
// unique (device, metric, time) and so a unique event id. Sequence number
// seq is reading seq: device ld-(seq mod 240), metric "seq", observed at
// base + seq ms, value seq. The ledger holds the sequence numbers whose
// PUBACK arrived.
const (
	loadMetric  = "seq"
	loadDevices = 240
)

type loadGen struct {
	url, partner, runID string
	rate                int
	baseMs              int64
	clients             []mqtt.Client
	t0                  time.Time

	next   atomic.Int64 // next sequence number = readings published so far
	failed atomic.Int64 // publishes that completed with an error
	acked  ledger

	stop     chan struct{}
	abandon  chan struct{}
	pubs     sync.WaitGroup
	waits    sync.WaitGroup
	finished sync.Once
}

func loadDevice(seq int64) string { return fmt.Sprintf("ld-%03d", seq%loadDevices) }

func (l *loadGen) observedMs(seq int64) int64 { return l.baseMs + seq }

func (l *loadGen) id(seq int64) string {
	return event.ReadingID(l.partner, loadDevice(seq), loadMetric, l.observedMs(seq))
}

func (l *loadGen) topic(seq int64) string { return "sensors/" + l.partner + "/" + loadDevice(seq) }

func (l *loadGen) payload(seq int64) []byte {
	ms := l.observedMs(seq)
	return fmt.Appendf(nil, `[{"bt":%d.%03d,"n":%q,"u":"count","v":%d}]`, ms/1000, ms%1000, loadMetric, seq)
}

// startLoad connects the publishers and starts publishing at rate readings
// per second, open loop: the schedule never waits for acknowledgements.
// Publishers use persistent sessions, as a partner platform would, so an
// unacknowledged message is sent again after a reconnect.
func startLoad(url, partner, runID string, rate, conns int) (*loadGen, error) {
	l := &loadGen{url: url, partner: partner, runID: runID, rate: rate,
		baseMs: time.Now().Add(-time.Hour).UnixMilli(), stop: make(chan struct{}), abandon: make(chan struct{})}
	for i := 0; i < conns; i++ {
		o := mqtt.NewClientOptions().AddBroker(url).SetClientID(l.clientID(i)).
			SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
			SetConnectRetryInterval(500 * time.Millisecond).SetMaxReconnectInterval(time.Second).
			SetKeepAlive(10 * time.Second).SetConnectTimeout(5 * time.Second).SetMaxResumePubInFlight(2000)
		c := mqtt.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			l.close()
			return nil, fmt.Errorf("connecting publisher %d to %s: %v", i, url, tok.Error())
		}
		l.clients = append(l.clients, c)
	}
	l.t0 = time.Now()
	share := float64(rate) / float64(conns)
	for _, c := range l.clients {
		l.pubs.Add(1)
		go l.publish(c, share)
	}
	return l, nil
}

func (l *loadGen) clientID(i int) string { return fmt.Sprintf("flt-pub-%s-%d", l.runID, i) }

// publish sends this connection's share of the schedule: every 5 ms, what
// is due since the start.
func (l *loadGen) publish(c mqtt.Client, perSecond float64) {
	defer l.pubs.Done()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var sent int64
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		due := int64(time.Since(l.t0).Seconds() * perSecond)
		for ; sent < due; sent++ {
			seq := l.next.Add(1) - 1
			tok := c.Publish(l.topic(seq), 1, false, l.payload(seq))
			l.waits.Add(1)
			go l.await(seq, tok)
		}
	}
}

func (l *loadGen) await(seq int64, tok mqtt.Token) {
	defer l.waits.Done()
	select {
	case <-tok.Done():
		if tok.Error() == nil {
			l.acked.mark(seq)
		} else {
			l.failed.Add(1)
		}
	case <-l.abandon:
	}
}

// sent is how many readings were published so far.
func (l *loadGen) sent() int64 { return l.next.Load() }

// finish stops publishing, waits up to grace for the outstanding PUBACKs,
// then freezes the ledger and closes the connections (and their sessions).
func (l *loadGen) finish(grace time.Duration) (pending int) {
	first := false
	l.finished.Do(func() { first = true })
	if !first {
		return 0
	}
	close(l.stop)
	l.pubs.Wait()
	done := make(chan struct{})
	go func() { l.waits.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		pending = int(l.sent() - l.acked.count() - l.failed.Load())
		close(l.abandon)
		<-done
	}
	l.close()
	return pending
}

func (l *loadGen) close() {
	for _, c := range l.clients {
		c.Disconnect(200)
	}
	for i := range l.clients {
		clearSession(l.url, l.clientID(i))
	}
}

// clearSession removes the persistent MQTT session of a client id.
func clearSession(url, clientID string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true).
		SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}

// ledger is a growable bit set of sequence numbers.
type ledger struct {
	mu   sync.Mutex
	bits []uint64
	n    int64
}

func (l *ledger) mark(seq int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := int(seq / 64)
	for len(l.bits) <= w {
		l.bits = append(l.bits, make([]uint64, len(l.bits)+1024)...)
	}
	if l.bits[w]&(1<<(seq%64)) == 0 {
		l.bits[w] |= 1 << (seq % 64)
		l.n++
	}
}

func (l *ledger) count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// countBelow counts the marked sequence numbers below s.
func (l *ledger) countBelow(s int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for w := 0; w < len(l.bits) && int64(w)*64 < s; w++ {
		word := l.bits[w]
		if rest := s - int64(w)*64; rest < 64 {
			word &= 1<<rest - 1
		}
		n += int64(bits.OnesCount64(word))
	}
	return n
}

// each calls f for every marked sequence number, in order.
func (l *ledger) each(f func(seq int64)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for w, word := range l.bits {
		for b := 0; word != 0 && b < 64; b++ {
			if word&(1<<b) != 0 {
				f(int64(w)*64 + int64(b))
			}
		}
	}
}

// The ids the ledger computes are the ids ingest gives the readings: the
// generator's payloads go through the real decoder.
func TestLoadPayloadsCarryTheLedgerIDs(t *testing.T) {
	l := &loadGen{partner: "fltcheck", baseMs: time.Date(2026, 11, 24, 21, 0, 0, 0, event.Location).UnixMilli()}
	d := payload.Decoder{MaxBytes: 1 << 10, Limits: event.NoWindow}
	seen := map[string]bool{}
	for _, seq := range []int64{0, 1, 7, 239, 240, 999, 1000, 123456, 2_999_999} {
		got, err := d.Decode(nil, l.partner, loadDevice(seq), l.payload(seq), time.UnixMilli(l.baseMs))
		if err != nil || len(got) != 1 {
			t.Fatalf("seq %d: decoding %s: %v (%d readings)", seq, l.payload(seq), err, len(got))
		}
		if got[0].ID != l.id(seq) || got[0].ObservedMs != l.observedMs(seq) || got[0].Value != float64(seq) {
			t.Errorf("seq %d: decoder gives id %s at %d, ledger expects %s at %d", seq, got[0].ID, got[0].ObservedMs, l.id(seq), l.observedMs(seq))
		}
		if seen[got[0].ID] {
			t.Errorf("seq %d: id %s is not unique", seq, got[0].ID)
		}
		seen[got[0].ID] = true
	}
}

func TestLedger(t *testing.T) {
	var l ledger
	for _, s := range []int64{0, 5, 63, 64, 65, 70000, 5} {
		l.mark(s)
	}
	var got []int64
	l.each(func(s int64) { got = append(got, s) })
	if fmt.Sprint(got) != "[0 5 63 64 65 70000]" || l.count() != 6 || l.countBelow(64) != 3 || l.countBelow(70001) != 6 {
		t.Errorf("ledger = %v, count %d, below 64: %d", got, l.count(), l.countBelow(64))
	}
}
