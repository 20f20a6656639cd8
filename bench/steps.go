package bench

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// Runner drives the pipeline phases of a run.
type Runner struct {
	P    *Params
	Pipe *Pipeline
	// Peer, if set, is what the windows measure instead of Pipe (which
	// is then nil): Benthos, with no metrics of ours to scrape.
	Peer  *Peer
	Load  *Load
	CH    *CHWatch
	Wall  *Wall // one client, connected throughout: the wall is open
	Procs []Proc
	Log   *slog.Logger
	// LagBound is the most data, in seconds of the offered rate, that may
	// be in flight (broker queue, Kafka, the stream's batch) for a window
	// to count as bounded: a batch of up to stream.max_age plus slack.
	LagBound float64
	// OnConfirm, if set, runs (in its own goroutine) as each confirmation
	// window starts: the profiles of the roles are taken then.
	OnConfirm func()
	steps     int
	missing   int64 // acknowledged readings a drain gave up on
}

// Step is one window of open-loop load and what it did.
type Step struct {
	Phase    string        `json:"phase"` // ramp, confirm, latency
	Tag      string        `json:"tag"`
	Offered  float64       `json:"offered_per_s"` // readings/s
	Acked    float64       `json:"acked_per_s"`   // readings/s acknowledged by the broker
	Window   float64       `json:"window_s"`
	Schedule ScheduleStats `json:"schedule"`
	Failed   int64         `json:"failed_publishes"`
	// Unacked publishes were neither acknowledged nor failed 15 s after
	// the window's last one: the broker fell behind.
	Unacked int64 `json:"unacked_publishes,omitempty"`
	// AckedReadings were acknowledged by the broker in this window; Rows
	// and Unique are what ClickHouse holds of them once drained.
	AckedReadings int64   `json:"acked_readings"`
	Rows          uint64  `json:"rows"`
	Unique        uint64  `json:"unique_rows"`
	Lost          int64   `json:"lost"`
	Drain         float64 `json:"drain_s"`
	// Backlog is acknowledged readings not yet in ClickHouse, sampled
	// every 250 ms: its largest value in seconds of offered load, and its
	// growth (least squares) as a share of the offered rate.
	BacklogMaxS    float64 `json:"backlog_max_s"`
	BacklogGrowth  float64 `json:"backlog_growth"`
	ConsumerLagMax float64 `json:"consumer_lag_max"`
	MaxParts       uint64  `json:"max_active_parts"`
	// Errors the roles retried during the window (no loss by themselves).
	KafkaWriteErrors float64     `json:"ingest_kafka_write_errors"`
	CHInsertErrors   float64     `json:"stream_insert_errors"`
	InsertsPerS      float64     `json:"inserts_per_s"`
	ToClickHouse     Summary     `json:"to_clickhouse"`
	ProbesUnseen     int         `json:"probes_unseen"`
	ToWall           WallStats   `json:"to_wall"`
	Usage            WindowUsage `json:"usage"`
	// CPU per reading (µs): the ioc roles alone, and everything measured
	// (roles, services, load generator).
	RoleCPUus float64 `json:"role_cpu_us_per_reading"`
	AllCPUus  float64 `json:"all_cpu_us_per_reading"`
	Pass      bool    `json:"pass"`
	Why       string  `json:"why,omitempty"`

	acks *WindowAcks // the window's own acknowledgements, for Verify
}

type backlogSample struct {
	t, backlog float64
}

// drained waits until ClickHouse holds every acknowledged reading (less
// those already given up on), the timeout passes, or the row count stops
// moving for stall: a stalled drain means readings are missing.
func (r *Runner) drained(ctx context.Context, timeout time.Duration) (bool, time.Duration) {
	start := time.Now()
	stall := max(10*time.Second, 3*r.P.CHPoll)
	if r.P.Smoke {
		stall = 5 * time.Second
	}
	var last uint64
	moved := time.Now()
	done := false
	testpoll.Poll(timeout, testpoll.Interval, func() bool {
		rows, _, err := r.CH.Rows(ctx)
		if err == nil {
			if int64(rows) >= r.Load.AckedReadings.Load()-r.missing {
				done = true
				return true
			}
			if rows != last {
				last, moved = rows, time.Now()
			}
		}
		if time.Since(moved) > stall || ctx.Err() != nil || time.Since(start) >= timeout {
			if err == nil {
				r.missing = r.Load.AckedReadings.Load() - int64(rows)
			}
			return true
		}
		return false
	})
	return done, time.Since(start)
}

// RunStep offers rate readings/s for window and judges the result.
func (r *Runner) RunStep(ctx context.Context, phase string, rate float64, window time.Duration) Step {
	r.steps++
	s := Step{Phase: phase, Tag: fmt.Sprintf("s%02d", r.steps), Offered: rate}
	if err := r.alive(); err != nil {
		s.Why = err.Error()
		return s
	}
	r.drained(ctx, r.P.DrainTimeout)
	streamBefore, _ := r.scrape(ctx, "stream")
	ingestBefore, _ := r.scrape(ctx, "ingest")
	failedBefore := r.Load.Failed.Load()
	s.acks = &WindowAcks{}

	probes := NewProbeTimer()
	pctx, stopProbes := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); probes.Run(pctx, r.CH, r.P.CHPoll) }()
	if r.Wall != nil {
		r.Wall.Begin()
	}
	meter := StartMeter(r.Procs)
	start := time.Now()
	if phase == "confirm" && r.OnConfirm != nil {
		go r.OnConfirm()
	}
	var mu sync.Mutex
	var samples []backlogSample
	sctx, stopSampling := context.WithCancel(ctx)
	bg.Add(1)
	go func() {
		defer bg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			rows, parts, err := r.CH.Rows(sctx)
			if err != nil {
				continue
			}
			b := float64(r.Load.AckedReadings.Load() - int64(rows))
			mu.Lock()
			samples = append(samples, backlogSample{time.Since(start).Seconds(), b})
			s.MaxParts = max(s.MaxParts, parts)
			mu.Unlock()
			if n++; n%4 == 0 {
				if m, err := r.scrape(sctx, "stream"); err == nil {
					mu.Lock()
					s.ConsumerLagMax = max(s.ConsumerLagMax, m.Sum("ioc_stream_consumer_lag"))
					mu.Unlock()
				}
			}
		}
	}()

	sched := Schedule{Rate: rate, Duration: window, Devices: r.P.Devices, Probe: r.P.ProbeFraction, OnProbe: probes.OnProbe, Acks: s.acks}
	if r.Wall != nil {
		// The wall channel shows values of registered devices only: the
		// registry's devices report, so that publish → websocket is timed.
		if fleet, err := registryFleet(r.P.Repo); err == nil && len(fleet) > 0 {
			sched.Devices, sched.Fleet = len(fleet), fleet
		} else {
			r.Log.Warn("the registry's devices are unknown: the wall shows no values of this window", "err", err)
		}
	}
	s.Schedule = r.Load.Run(ctx, sched)
	s.Usage = meter.Stop()
	stopSampling()
	s.Window = round2(s.Schedule.Seconds)
	if !s.acks.Wait(ctx, 15*time.Second) {
		s.Unacked = s.acks.Outstanding.Load()
	}
	acked := s.acks.Readings.Load()
	s.AckedReadings = acked
	s.Failed = r.Load.Failed.Load() - failedBefore
	s.Acked = round1(float64(acked) / s.Schedule.Seconds)
	ok, drain := r.drained(ctx, r.P.DrainTimeout)
	s.Drain = round2(drain.Seconds())
	// Let the last probes and frames arrive, then stop timing: a tail of
	// the measurement window (no event marks the last frame), not a wait
	// for a condition.
	time.Sleep(2 * r.P.CHPoll)
	stopProbes()
	bg.Wait()
	s.ToClickHouse, s.ProbesUnseen = probes.Summary(), probes.Pending()
	if r.Wall != nil {
		s.ToWall = r.Wall.End()
	}
	if rows, uniq, err := r.CH.WindowCount(ctx, s.Schedule.FirstMs, s.Schedule.LastMs); err == nil {
		s.Rows, s.Unique = rows, uniq
		if ok {
			s.Lost = max(0, acked-int64(uniq))
		}
	}
	if after, err := r.scrape(ctx, "stream"); err == nil && streamBefore != nil {
		flushes := after.Sum("ioc_stream_batch_rows_count") - streamBefore.Sum("ioc_stream_batch_rows_count")
		s.InsertsPerS = round2(flushes / (s.Schedule.Seconds + drain.Seconds()))
		s.CHInsertErrors = after.Sum("ioc_stream_insert_errors_total") - streamBefore.Sum("ioc_stream_insert_errors_total")
	}
	if after, err := r.scrape(ctx, "ingest"); err == nil && ingestBefore != nil {
		s.KafkaWriteErrors = after.Sum("ioc_ingest_kafka_write_errors_total") - ingestBefore.Sum("ioc_ingest_kafka_write_errors_total")
	}
	s.RoleCPUus, s.AllCPUus = cpuPerReading(s.Usage, acked)
	s.BacklogMaxS, s.BacklogGrowth = backlogFigures(samples, r.P.Settle.Seconds(), rate)
	s.Pass, s.Why = judge(s, ok, r.LagBound)
	r.Log.Info("window", "phase", phase, "tag", s.Tag, "offered", rate, "acked_per_s", s.Acked, "pass", s.Pass, "why", s.Why,
		"backlog_max_s", s.BacklogMaxS, "growth", s.BacklogGrowth, "drain_s", s.Drain, "ch_p99_ms", s.ToClickHouse.P99,
		"wall_p99_ms", s.ToWall.Latency.P99, "load1", s.Usage.Load1)
	return s
}

// alive reports the measured system having died.
func (r *Runner) alive() error {
	if r.Peer != nil {
		return r.Peer.Alive()
	}
	return r.Pipe.Alive()
}

// scrape reads a role's metrics; the peer has none of ours.
func (r *Runner) scrape(ctx context.Context, role string) (Metrics, error) {
	if r.Pipe == nil {
		return nil, fmt.Errorf("no %s metrics: the peer is measured", role)
	}
	return r.Pipe.Scrape(ctx, role)
}

// ownProc names the processes whose CPU and memory are the measured
// system's own: the ioc roles, or the peer.
func ownProc(name string) bool {
	switch name {
	case "ingest", "stream", "dashboard", "run", "benthos":
		return true
	}
	return false
}

func cpuPerReading(u WindowUsage, readings int64) (roles, all float64) {
	if readings <= 0 {
		return 0, 0
	}
	var r, a float64
	for name, p := range u.Procs {
		a += p.CPUSeconds
		if ownProc(name) {
			r += p.CPUSeconds
		}
	}
	return round2(r / float64(readings) * 1e6), round2(a / float64(readings) * 1e6)
}

// backlogFigures gives the largest backlog in seconds of offered load and
// its growth rate as a share of the offered rate, after the warm-up.
func backlogFigures(samples []backlogSample, settle, rate float64) (maxS, growth float64) {
	var x, y []float64
	var mx float64
	for _, s := range samples {
		if s.t < settle {
			continue
		}
		x = append(x, s.t)
		y = append(y, s.backlog)
		mx = max(mx, s.backlog)
	}
	if rate <= 0 {
		return 0, 0
	}
	if len(x) < 2 || x[len(x)-1]-x[0] < minGrowthSpan {
		return round2(mx / rate), 0 // too short to tell growth from the batching saw-tooth
	}
	return round2(mx / rate), math.Round(slope(x, y)/rate*1000) / 1000
}

// minGrowthSpan is the shortest stretch of a window over which the
// backlog's growth is judged: the stream's batches (one a second by
// default) make the backlog a saw-tooth, whose slope over a few seconds
// says nothing.
const minGrowthSpan = 10

// judge decides whether a window was sustained: the generator kept its
// schedule, every publish was acknowledged, nothing was lost, the backlog
// stayed under the bound and did not grow.
func judge(s Step, drained bool, lagBound float64) (bool, string) {
	var why []string
	if s.Schedule.LagP99 > 100 {
		why = append(why, fmt.Sprintf("load generator behind schedule (p99 %.0f ms)", s.Schedule.LagP99))
	}
	if s.Failed > 0 {
		why = append(why, fmt.Sprintf("%d publishes failed", s.Failed))
	}
	if s.Unacked > 0 {
		why = append(why, fmt.Sprintf("%d publishes not acknowledged 15 s after the window", s.Unacked))
	}
	if !drained {
		why = append(why, "acknowledged readings missing in ClickHouse after the drain")
	}
	if s.Lost > 0 {
		why = append(why, fmt.Sprintf("%d readings lost", s.Lost))
	}
	if s.BacklogMaxS > lagBound {
		why = append(why, fmt.Sprintf("backlog reached %.1f s of load (bound %.1f s)", s.BacklogMaxS, lagBound))
	}
	if s.BacklogGrowth > 0.05 {
		why = append(why, fmt.Sprintf("backlog grew by %.0f %% of the offered rate", s.BacklogGrowth*100))
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// roundRate keeps two significant digits (three above 100,000).
func roundRate(r float64) float64 {
	if r <= 0 {
		return 0
	}
	digits := 2
	if r >= 100000 {
		digits = 3
	}
	p := math.Pow(10, math.Floor(math.Log10(r))-float64(digits-1))
	return math.Round(r/p) * p
}

// Search finds the highest offered rate sustained for the final window:
// geometric steps up to the first failure, a few bisections, then a
// confirmation run (lowered by 15 % until it passes, Retries times).
func (r *Runner) Search(ctx context.Context) (best *Step, steps []Step) {
	p := r.P
	var pass, fail float64
	rate := roundRate(p.StartRate)
	for rate <= p.MaxRate && ctx.Err() == nil {
		s := r.RunStep(ctx, "ramp", rate, p.StepWindow)
		steps = append(steps, s)
		if !s.Pass {
			fail = rate
			break
		}
		pass = rate
		rate = roundRate(rate * p.Factor)
	}
	for i := 0; pass == 0 && fail > 0 && i < 4 && ctx.Err() == nil; i++ { // the start rate was too high
		rate = roundRate(fail / p.Factor)
		s := r.RunStep(ctx, "ramp", rate, p.StepWindow)
		steps = append(steps, s)
		if s.Pass {
			pass = rate
		} else {
			fail = rate
		}
	}
	for i := 0; i < p.Refine && pass > 0 && fail > 0 && ctx.Err() == nil; i++ {
		mid := roundRate((pass + fail) / 2)
		if mid <= pass || mid >= fail {
			break
		}
		s := r.RunStep(ctx, "ramp", mid, p.StepWindow)
		steps = append(steps, s)
		if s.Pass {
			pass = mid
		} else {
			fail = mid
		}
	}
	if pass == 0 {
		return nil, steps
	}
	rate = pass
	for i := 0; i <= p.Retries && ctx.Err() == nil; i++ {
		s := r.RunStep(ctx, "confirm", rate, p.FinalWindow)
		steps = append(steps, s)
		if s.Pass {
			return &steps[len(steps)-1], steps
		}
		rate = roundRate(rate * 0.85)
	}
	return nil, steps
}

// Verify waits for everything acknowledged to reach ClickHouse and counts
// every window again: a reading still missing then is lost.
func (r *Runner) Verify(ctx context.Context, steps []*Step) (lost int64, err error) {
	if ok, _ := r.drained(ctx, r.P.DrainTimeout); !ok {
		err = fmt.Errorf("ClickHouse still lacks acknowledged readings %s after the last window", r.P.DrainTimeout)
	}
	for _, s := range steps {
		rows, uniq, qerr := r.CH.WindowCount(ctx, s.Schedule.FirstMs, s.Schedule.LastMs)
		if qerr != nil {
			return lost, qerr
		}
		if s.acks != nil { // acknowledgements that came after the window count now
			s.AckedReadings = s.acks.Readings.Load()
		}
		s.Rows, s.Unique = rows, uniq
		s.Lost = max(0, s.AckedReadings-int64(uniq))
		lost += s.Lost
	}
	return lost, err
}

// FanoutResult is the wall's fan-out test: one window at the largest
// client count (the target), the smaller counts before it (Steps), and the
// largest again with a share of the clients stalled (Stalled).
type FanoutResult struct {
	Clients     int         `json:"clients"`
	Protocol    string      `json:"protocol,omitempty"`
	UpdatesPerS float64     `json:"updates_per_s"`
	Wall        WallStats   `json:"wall"`
	SlowClients float64     `json:"slow_clients_disconnected"`
	Frames      float64     `json:"frames_broadcast"`
	Usage       WindowUsage `json:"usage"`
	Pass        bool        `json:"pass"`
	Why         string      `json:"why,omitempty"`

	Steps   []FanoutResult `json:"steps,omitempty"`
	Stalled *FanoutResult  `json:"stalled,omitempty"`
	// HealthyP99Change is the healthy clients' p99 with stalled clients
	// against the same count without: (stalled − clean) / clean.
	HealthyP99Change *float64 `json:"healthy_p99_change,omitempty"`
}

// Fanout runs the fan-out windows: each of FanoutSteps, then FanoutClients,
// then FanoutClients with FanoutStalled of them stalled.
func (r *Runner) Fanout(ctx context.Context) FanoutResult {
	p := r.P
	fleet, err := registryFleet(p.Repo)
	if err != nil {
		return FanoutResult{Clients: p.FanoutClients, UpdatesPerS: p.FanoutRate, Why: err.Error()}
	}
	var steps []FanoutResult
	for _, n := range p.FanoutSteps {
		if n < p.FanoutClients && ctx.Err() == nil {
			steps = append(steps, r.fanoutWindow(ctx, fleet, n, 0))
		}
	}
	res := r.fanoutWindow(ctx, fleet, p.FanoutClients, 0)
	res.Steps = steps
	if stalled := int(float64(p.FanoutClients) * p.FanoutStalled); stalled > 0 && ctx.Err() == nil {
		st := r.fanoutWindow(ctx, fleet, p.FanoutClients, stalled)
		res.Stalled = &st
		if clean := res.Wall.Latency.P99; clean > 0 && st.Wall.Latency.Count > 0 {
			ch := (st.Wall.Latency.P99 - clean) / clean
			res.HealthyP99Change = &ch
			if ch >= 0.10 {
				st.Pass = false
				st.Why = strings.TrimPrefix(st.Why+fmt.Sprintf("; healthy clients' p99 %+.1f %% (bound +10 %%)", ch*100), "; ")
			}
		}
	}
	return res
}

// registryFleet lists the (partner, device) pairs of deploy/devices.csv.
func registryFleet(repo string) ([][2]string, error) {
	reg, err := registry.Load(filepath.Join(repo, "deploy", "devices.csv"))
	if err != nil {
		return nil, fmt.Errorf("reading the registry for the fan-out: %w", err)
	}
	var fleet [][2]string
	for _, d := range reg.Devices() {
		fleet = append(fleet, [2]string{d.Partner, d.ID})
	}
	return fleet, nil
}

// fanoutWindow connects n wall clients (protocol v2, the wall channel),
// stalled of them frozen, and sends about one update per second.
func (r *Runner) fanoutWindow(ctx context.Context, fleet [][2]string, n, stalled int) FanoutResult {
	p := r.P
	res := FanoutResult{Clients: n, Protocol: "v2 wall channel", UpdatesPerS: p.FanoutRate}
	before, _ := r.Pipe.Scrape(ctx, "dashboard")
	swarm, err := DialWall(ctx, r.Pipe.WallAddr, n, stalled, false)
	if err != nil {
		res.Why = err.Error()
		return res
	}
	defer swarm.Close()
	r.Log.Info("fan-out clients connected", "clients", n-int(swarm.failed.Load()), "stalled", stalled, "seconds", swarm.connect.Seconds())
	ready := swarm.WaitSnapshots(ctx, 2*time.Minute)
	time.Sleep(2 * time.Second) // measurement window: the snapshots' last bytes and the first deltas
	r.Log.Info("fan-out snapshots delivered", "clients", ready)
	swarm.Begin()
	meter := StartMeter(r.Procs)
	r.steps++
	// The wall of a city shows its registered devices (deploy/devices.csv,
	// 65 devices): they report here, each with its own partner, so that the
	// wall channel carries each as its own key.
	r.Load.Run(ctx, Schedule{Rate: p.FanoutRate * float64(p.Records), Duration: p.FanoutWindow, Devices: len(fleet), Fleet: fleet})
	r.Load.WaitAcks(ctx, 10*time.Second)
	time.Sleep(time.Second) // measurement tail: the last frame (no event marks it)
	res.Usage = meter.Stop()
	res.Wall = swarm.End()
	if after, err := r.Pipe.Scrape(ctx, "dashboard"); err == nil && before != nil {
		res.SlowClients = after.Sum("ioc_dashboard_slow_clients_total") - before.Sum("ioc_dashboard_slow_clients_total")
		res.Frames = after.Sum("ioc_dashboard_frames_total") - before.Sum("ioc_dashboard_frames_total")
	}
	var why []string
	if res.Wall.DialFailures > 0 {
		why = append(why, fmt.Sprintf("%d clients could not connect", res.Wall.DialFailures))
	}
	if res.Wall.Disconnects > 0 {
		why = append(why, fmt.Sprintf("%d healthy clients dropped", res.Wall.Disconnects))
	}
	if stalled == 0 && res.SlowClients > 0 {
		why = append(why, fmt.Sprintf("%v clients disconnected as slow", res.SlowClients))
	}
	if res.Wall.Delivered < 0.999 && res.Wall.CoalescedClients == 0 {
		// Fewer frames without merged deltas: frames lost.
		why = append(why, fmt.Sprintf("clients received %.1f %% of the frames", res.Wall.Delivered*100))
	}
	if want := n - int(res.Wall.DialFailures); ready < want {
		why = append(why, fmt.Sprintf("%d of %d clients had no snapshot within 2 minutes", want-ready, want))
	}
	if res.Wall.FramesPerClient == 0 {
		why = append(why, "no frame reached the clients")
	}
	res.Pass, res.Why = len(why) == 0, strings.Join(why, "; ")
	r.Log.Info("fan-out", "clients", res.Wall.Clients, "stalled", stalled, "delivered", res.Wall.Delivered, "p99_ms", res.Wall.Latency.P99,
		"slow", res.SlowClients, "pass", res.Pass, "why", res.Why)
	return res
}
