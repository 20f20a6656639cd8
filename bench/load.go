package bench

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/mqttconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// Load is the simulated fleet: many MQTT connections publishing SenML packs
// at QoS 1. In open loop (Schedule.Rate > 0) every message has a send time
// fixed in advance and is sent then whether or not earlier ones were
// acknowledged; a generator that cannot keep its schedule shows it in
// Lag, it does not silently slow down.
type Load struct {
	conns   []*pubConn
	records int
	prefix  string // topic prefix (the run's mount point)

	Sent          atomic.Int64 // messages handed to the MQTT client
	AckedMsgs     atomic.Int64 // PUBACKs received
	AckedReadings atomic.Int64 // readings in acknowledged messages
	Failed        atomic.Int64 // publishes that ended in an error
	outstanding   atomic.Int64
	poison        atomic.Pointer[poisonPlan] // SetPoison (poison.go)
}

type pubConn struct {
	c       mqtt.Client
	pending chan pending
}

type pending struct {
	tok      mqtt.Token
	acks     *WindowAcks // the window it was sent in, if it counts its own
	readings int64
	window   chan struct{} // closed-loop bound, nil in open loop
	poison   *poisonPlan   // set on a poison message, of class
	class    int
}

// NewLoad connects n publishers.
func NewLoad(ctx context.Context, url, idPrefix, topicPrefix string, n, records int) (*Load, error) {
	l := &Load{conns: make([]*pubConn, n), records: records, prefix: topicPrefix}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range l.conns {
		g.Go(func() error {
			o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("%s-%d", idPrefix, i)).
				SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(15 * time.Second).
				SetKeepAlive(60 * time.Second).SetOrderMatters(false)
			mqttconn.Use(o, url) // the generator's CPU counts too: see internal/mqttconn
			c := mqtt.NewClient(o)
			tok := c.Connect()
			if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
				return fmt.Errorf("publisher %d connecting to %s: %v", i, url, tok.Error())
			}
			pc := &pubConn{c: c, pending: make(chan pending, 1<<16)}
			l.conns[i] = pc
			go l.collect(pc)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// collect counts acknowledgements; tokens complete about in send order.
func (l *Load) collect(pc *pubConn) {
	for p := range pc.pending {
		<-p.tok.Done()
		if p.tok.Error() != nil {
			l.Failed.Add(1)
		} else {
			l.AckedMsgs.Add(1)
			l.AckedReadings.Add(p.readings)
			if p.acks != nil {
				p.acks.Readings.Add(p.readings)
			}
			if p.poison != nil {
				p.poison.acked[p.class].Add(1)
			}
		}
		if p.window != nil {
			<-p.window
		}
		if p.acks != nil {
			p.acks.Outstanding.Add(-1)
		}
		l.outstanding.Add(-1)
	}
}

// Close disconnects every publisher.
func (l *Load) Close() {
	for _, pc := range l.conns {
		if pc != nil {
			pc.c.Disconnect(250)
			close(pc.pending)
		}
	}
}

// WaitAcks waits until every publish is acknowledged or failed.
func (l *Load) WaitAcks(ctx context.Context, timeout time.Duration) bool {
	return testpoll.Poll(timeout, 20*time.Millisecond, func() bool {
		return l.outstanding.Load() == 0 || ctx.Err() != nil
	}) && ctx.Err() == nil
}

// Schedule is one window of load.
type Schedule struct {
	// Rate in readings per second; 0 means closed loop: each connection
	// sends as fast as it can with at most Window unacknowledged messages.
	Rate     float64
	Window   int
	Duration time.Duration
	// Devices d00000… report in turn; the fleet is the same in every
	// window (as the wall's state would be), and a window's rows are told
	// apart by their observation times (ScheduleStats.FirstMs, LastMs).
	Devices int
	// Fleet, if set, replaces the d00000… devices: these (partner,
	// device) pairs report in turn, e.g. the registry's devices, which the
	// wall's v2 channel shows one by one.
	Fleet [][2]string
	// Probe is the share of messages sent by probe devices (pNNN),
	// whose arrival in ClickHouse is timed one by one through OnProbe.
	Probe   float64
	OnProbe func(device string, observedMs int64, publishedUs int64)
	// Acks, if set, counts the acknowledgements of this window's own
	// messages, whenever they arrive: a broker that acknowledges late
	// must not move them into the next window's count.
	Acks *WindowAcks
	// MicroTime sends the base time with microseconds (hop tests: the
	// subscriber computes latency from it); otherwise milliseconds, as a
	// device would.
	MicroTime bool
}

// ScheduleStats is how well the generator kept its schedule.
type ScheduleStats struct {
	// FirstMs and LastMs bound the observation times of the window's
	// readings (epoch ms).
	FirstMs  int64   `json:"first_ms"`
	LastMs   int64   `json:"last_ms"`
	Sent     int64   `json:"sent_msgs"`
	Readings int64   `json:"sent_readings"`
	LagP99   float64 `json:"lag_p99_ms"`
	LagMax   float64 `json:"lag_max_ms"`
	Seconds  float64 `json:"seconds"`
}

// WindowAcks counts one window's acknowledged readings and its publishes
// not acknowledged (nor failed) yet.
type WindowAcks struct {
	Readings    atomic.Int64
	Outstanding atomic.Int64
}

// Wait waits until every publish of the window is acknowledged or failed.
func (w *WindowAcks) Wait(ctx context.Context, timeout time.Duration) bool {
	return testpoll.Poll(timeout, 20*time.Millisecond, func() bool {
		return w.Outstanding.Load() == 0 || ctx.Err() != nil
	}) && ctx.Err() == nil
}

// Run publishes one window and returns when its last message was sent
// (acknowledgements may still be arriving: see WaitAcks).
func (l *Load) Run(ctx context.Context, s Schedule) ScheduleStats {
	c := len(l.conns)
	start := time.Now().Add(20 * time.Millisecond)
	end := start.Add(s.Duration)
	lag := NewRecorder(1 << 16)
	var sent atomic.Int64
	var first, last atomic.Int64
	first.Store(math.MaxInt64)
	var wg sync.WaitGroup
	for i, pc := range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var window chan struct{}
			if s.Rate <= 0 {
				window = make(chan struct{}, max(1, s.Window))
			}
			n, lo, hi := l.runConn(ctx, pc, window, i, c, s, start, end, lag)
			sent.Add(n)
			for v := first.Load(); lo < v && !first.CompareAndSwap(v, lo); v = first.Load() {
			}
			for v := last.Load(); hi > v && !last.CompareAndSwap(v, hi); v = last.Load() {
			}
		}()
	}
	wg.Wait()
	st := lag.Summary()
	n := sent.Load()
	return ScheduleStats{FirstMs: first.Load(), LastMs: last.Load(), Sent: n, Readings: n * int64(l.records),
		LagP99: st.P99, LagMax: st.Max, Seconds: time.Since(start).Seconds()}
}

func (l *Load) runConn(ctx context.Context, pc *pubConn, window chan struct{}, idx, nconn int, s Schedule, start, end time.Time, lag *Recorder) (sent, firstMs, lastMs int64) {
	var interval time.Duration
	if s.Rate > 0 {
		msgRate := s.Rate / float64(l.records)
		interval = time.Duration(float64(nconn) / msgRate * float64(time.Second))
		start = start.Add(interval * time.Duration(idx) / time.Duration(nconn)) // spread the connections
	}
	// Devices idx, idx+nconn, … belong to this connection.
	var devs []string
	var partners []string
	if len(s.Fleet) > 0 {
		for d := idx; d < max(len(s.Fleet), nconn); d += nconn {
			f := s.Fleet[d%len(s.Fleet)]
			partners, devs = append(partners, f[0]), append(devs, f[1])
		}
	} else {
		for d := idx; d < max(s.Devices, nconn); d += nconn {
			devs = append(devs, fmt.Sprintf("d%05d", d))
			partners = append(partners, []string{"viettel", "vnpt"}[d%2])
		}
	}
	// With fewer registered devices than connections, several connections
	// report the same device: each keeps to its own residue of the
	// millisecond, so that no two messages carry the same reading (partner,
	// device, metric and observation time: one id, which the pipeline
	// rightly stores once, and the window would count as lost).
	shares, share := int64(1), int64(0)
	if n := len(s.Fleet); n > 0 && n < nconn {
		shares, share = int64((nconn+n-1)/n), int64(idx/n)
	}
	probeDev := fmt.Sprintf("p%03d", idx)
	plan := l.poison.Load()
	var poisonTopic string
	var poisonEvery int64
	var poisonClasses int
	if plan != nil {
		poisonTopic, poisonEvery, poisonClasses = l.prefix+"sensors/viettel/"+poisonDevice(idx), plan.every, len(plan.classes)
	}
	probeEvery := int64(0)
	if s.Probe > 0 {
		probeEvery = max(1, int64(1/s.Probe+0.5))
	}
	last := make([]int64, len(devs)+1)
	bufSize := 64 + 96*l.records
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var k int64
	firstMs, lastMs = math.MaxInt64, 0
	for ; ; k++ {
		now := time.Now()
		if s.Rate > 0 {
			at := start.Add(time.Duration(k) * interval)
			if !at.Before(end) {
				return k, firstMs, lastMs
			}
			if d := at.Sub(now); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return k, firstMs, lastMs
				}
				now = time.Now()
			}
			if k%16 == 0 {
				lag.Add(now.Sub(at).Microseconds())
			}
		} else {
			if !now.Before(end) || ctx.Err() != nil {
				return k, firstMs, lastMs
			}
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return k, firstMs, lastMs
			}
			now = time.Now()
		}
		if class, ok := poisonSlot(k, poisonEvery, idx, nconn, poisonClasses); ok {
			// Bad input in place of this message: no reading expected.
			tok := pc.c.Publish(poisonTopic, 1, false, plan.classes[class].Payload)
			plan.sent[class].Add(1)
			l.Sent.Add(1)
			l.outstanding.Add(1)
			if s.Acks != nil {
				s.Acks.Outstanding.Add(1)
			}
			select {
			case pc.pending <- pending{tok: tok, acks: s.Acks, window: window, poison: plan, class: class}:
			case <-ctx.Done():
				return k + 1, firstMs, lastMs
			}
			continue
		}
		slot, dev, partner := int(k)%len(devs), "", ""
		probe := probeEvery > 0 && k%probeEvery == 0
		if probe {
			slot, dev, partner = len(devs), probeDev, "vnpt"
		} else {
			dev, partner = devs[slot], partners[slot]
		}
		us := now.UnixMicro()
		ms := us / 1000
		if ms <= last[slot] { // one observation time per device and ms: ids stay unique
			ms = last[slot] + 1
			us = ms * 1000
		}
		if r := ms % shares; !probe && r != share { // and per connection sharing the device
			ms += (share - r + shares) % shares
			us = ms * 1000
		}
		last[slot] = ms
		firstMs, lastMs = min(firstMs, ms), max(lastMs, ms)
		// A new buffer each time: paho keeps the payload until it is written.
		var buf []byte
		if s.MicroTime {
			buf = AppendPack(make([]byte, 0, bufSize), us, 6, l.records, k)
		} else {
			buf = AppendPack(make([]byte, 0, bufSize), ms*1000, 3, l.records, k)
		}
		if probe && s.OnProbe != nil {
			s.OnProbe(dev, ms, now.UnixMicro())
		}
		tok := pc.c.Publish(l.prefix+event.SensorTopic(partner, dev), 1, false, buf)
		l.Sent.Add(1)
		l.outstanding.Add(1)
		if s.Acks != nil {
			s.Acks.Outstanding.Add(1)
		}
		select {
		case pc.pending <- pending{tok: tok, acks: s.Acks, readings: int64(l.records), window: window}:
		case <-ctx.Done():
			return k + 1, firstMs, lastMs
		}
	}
}

// metricNames are what the city's air, water, rain and traffic sensors
// report, with a plausible band (lo, lo+span) for each value: ingest
// dead-letters values outside a metric's physical range.
var metricNames = []struct {
	name, unit string
	lo, span   float64
}{
	{"pm25", "ug/m3", 5, 80}, {"pm10", "ug/m3", 10, 120}, {"co", "ug/m3", 300, 3000}, {"no2", "ug/m3", 5, 80},
	{"temperature", "Cel", 15, 20}, {"humidity", "%RH", 40, 55}, {"level", "m", 0.5, 3}, {"rain", "mm/h", 0, 30},
	{"vehicles", "1/min", 0, 150}, {"speed", "km/h", 10, 60},
}

// AppendPack appends a SenML pack of n readings observed at us
// (microseconds since the epoch, written with the given decimals of a
// second). Metric names repeat with a numeric suffix past the tenth.
func AppendPack(b []byte, us int64, decimals, n int, seq int64) []byte {
	b = append(b, `[{"bt":`...)
	b = strconv.AppendFloat(b, float64(us)/1e6, 'f', decimals, 64)
	b = append(b, ',')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ",{"...)
		}
		m := metricNames[i%len(metricNames)]
		b = append(b, `"n":"`...)
		b = append(b, m.name...)
		if i >= len(metricNames) {
			b = strconv.AppendInt(b, int64(i/len(metricNames)), 10)
		}
		b = append(b, `","u":"`...)
		b = append(b, m.unit...)
		b = append(b, `","v":`...)
		frac := float64((seq*7+int64(i)*13)%1000) / 1000
		b = strconv.AppendFloat(b, math.Round((m.lo+m.span*frac)*10)/10, 'f', 1, 64)
		b = append(b, '}')
	}
	return append(b, ']')
}
