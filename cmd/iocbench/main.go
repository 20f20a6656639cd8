// Command iocbench measures the pipeline on the real local services: the
// highest rate it sustains MQTT → Kafka → ClickHouse with zero loss, the
// latency from publish to ClickHouse and to a wall client, the wall's
// fan-out, the CPU and memory of every role and service, and each hop
// alone with the same readings. It prints a table, writes JSON and can
// refresh the results block of docs/performance.md.
//
//	make bench         the full run (about 10–15 minutes)
//	make bench-smoke   a few seconds per phase, for CI
//
// The load generator lives here, never in the ioc binary.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sonla-ioc/ioc/bench"
	"github.com/sonla-ioc/ioc/internal/chconn"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, strings.Split(v, ",")...); return nil }

type floatsFlag struct {
	v   *[]float64
	set bool
}

func (f *floatsFlag) String() string {
	if f.v == nil {
		return ""
	}
	var s []string
	for _, x := range *f.v {
		s = append(s, strconv.FormatFloat(x, 'g', -1, 64))
	}
	return strings.Join(s, ",")
}

func (f *floatsFlag) Set(v string) error {
	*f.v = []float64{}
	f.set = true
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		*f.v = append(*f.v, x)
	}
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	var p bench.Params
	var set, skip listFlag
	fs := flag.NewFlagSet("iocbench", flag.ExitOnError)
	fs.BoolVar(&p.Smoke, "smoke", false, "a few seconds per phase at tiny rates (CI): checks the harness, not the pipeline's speed")
	fs.StringVar(&p.Repo, "repo", ".", "repository root (deploy/local/services.sh, deploy/devices.csv, ./cmd/ioc)")
	fs.StringVar(&p.IOC, "ioc", "", "ioc binary to run (default: build ./cmd/ioc into a temp folder)")
	fs.StringVar(&p.Mode, "mode", "roles", "roles: ingest, stream, dashboard as three processes; run: one `ioc run` process")
	fs.Var(&set, "set", "pipeline setting key.path=value, repeatable (e.g. -set ingest.linger=5ms -set dashboard.flush_interval=20ms)")
	fs.Var(&skip, "skip", "phases to leave out: fanout, ramp, latency, single (the pipeline at one reading per message), peer (Benthos), hops (comma-separated)")
	fs.IntVar(&p.Connections, "connections", 0, "MQTT publisher connections (default 100; smoke 4)")
	fs.IntVar(&p.Devices, "devices", 0, "simulated devices per window (default 10,000)")
	fs.IntVar(&p.Records, "records", 0, "readings per MQTT message, a SenML pack (default 5)")
	fs.Float64Var(&p.ProbeFraction, "probe", 0, "share of messages timed into ClickHouse (default 0.02)")
	fs.DurationVar(&p.CHPoll, "ch-poll", 0, "ClickHouse poll interval for probe readings (default 100ms)")
	fs.Float64Var(&p.StartRate, "start", 0, "first offered rate, readings/s (default 10,000)")
	fs.Float64Var(&p.Factor, "factor", 0, "rate multiplier between ramp windows (default 1.5)")
	fs.Float64Var(&p.MaxRate, "max", 0, "highest rate tried, readings/s (default 400,000)")
	fs.DurationVar(&p.StepWindow, "step", 0, "ramp window (default 20s)")
	fs.DurationVar(&p.FinalWindow, "final", 0, "confirmation window of the maximum (default 60s)")
	fs.IntVar(&p.Refine, "refine", -1, "bisection windows between the last pass and the first fail (default 2)")
	fs.IntVar(&p.Retries, "retries", -1, "confirmation retries, each 15 % lower (default 2)")
	fs.DurationVar(&p.DrainTimeout, "drain", 0, "how long a window may take to drain (default 90s)")
	fs.DurationVar(&p.Settle, "settle", 0, "warm-up ignored at the start of each window (default 5s)")
	fs.Var(&floatsFlag{v: &p.LatencyFractions}, "latency-at", "latency windows at these fractions of the maximum (default 0.25,0.5,0.9)")
	fs.Var(&floatsFlag{v: &p.LatencyRates}, "latency-rates", "latency windows at these absolute rates, readings/s (default 10000)")
	fs.DurationVar(&p.LatencyWindow, "latency-window", 0, "latency window (default 30s)")
	fs.IntVar(&p.FanoutClients, "fanout-clients", 0, "websocket clients of the fan-out test (default 10,000)")
	fs.Func("fanout-steps", "smaller fan-out client counts measured before -fanout-clients (default 1000,5000)", func(v string) error {
		p.FanoutSteps = []int{}
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				return fmt.Errorf("%q is not a client count", f)
			}
			p.FanoutSteps = append(p.FanoutSteps, n)
		}
		return nil
	})
	fs.Float64Var(&p.FanoutStalled, "fanout-stalled", 0, "share of -fanout-clients stalled (not reading) in a last fan-out window (default 0.01)")
	fs.Float64Var(&p.FanoutRate, "fanout-rate", 0, "MQTT messages per second during the fan-out test (default 1)")
	fs.DurationVar(&p.FanoutWindow, "fanout-window", 0, "fan-out window (default 30s)")
	fs.DurationVar(&p.HopWindow, "hop-window", 0, "saturation time of the broker and Kafka hops (default 15s)")
	fs.IntVar(&p.HopRows, "hop-rows", 0, "rows of the ClickHouse bulk insert (default 2,000,000)")
	fs.IntVar(&p.PeerConnections, "peer-connections", 0, "MQTT connections of the one-reading-per-message shape, pipeline and Benthos (default 20; smoke 2)")
	fs.StringVar(&p.Benthos, "benthos", "", "Benthos binary built from bench/benthos (make bench-peer-build): the peer measured at one reading per message (empty: not run)")
	fs.StringVar(&p.ProfileDir, "profile-dir", "", "save a CPU profile of each role taken during the confirmation window")
	fs.BoolVar(&p.Keep, "keep", false, "keep the run's database, topics and MQTT session")
	var pr poisonRun
	fs.Float64Var(&pr.fraction, "poison", 0, "share of MQTT messages sent as bad input (e.g. 0.001) in the poison phase: "+
		"the same fixed rate is offered clean and then with poison, and both throughputs are compared (0: no poison phase)")
	fs.Float64Var(&pr.rate, "poison-rate", 0, "offered rate of the poison phase, readings/s (default half the maximum found, else 5,000)")
	fs.DurationVar(&pr.window, "poison-window", 0, "each window of the poison phase (default -latency-window)")
	lagBound := fs.Float64("lag-bound", 5, "most data in flight, in seconds of the offered rate, for a window to count as sustained")
	out := fs.String("out", "", "JSON result file (default bench/results/latest.json; smoke: a temp file)")
	render := fs.String("render", "", "print the table of a stored JSON result (and update -doc) instead of measuring")
	doc := fs.String("doc", "", "markdown file whose results block is replaced (e.g. docs/performance.md)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of iocbench itself (the load generator) to this file")
	_ = fs.Parse(os.Args[1:])
	p.Set, p.Skip = set, skip
	if p.Refine < 0 {
		p.Refine = 0
		if !p.Smoke {
			p.Refine = 2
		}
	}
	if p.Retries < 0 {
		p.Retries = 0
		if !p.Smoke {
			p.Retries = 2
		}
	}
	if v := os.Getenv("IOC_MQTT_URL"); v != "" {
		p.MQTTURL = v
	}
	if v := os.Getenv("IOC_KAFKA_BROKERS"); v != "" {
		p.KafkaBrokers = strings.Split(v, ",")
	}
	if v := os.Getenv("IOC_CLICKHOUSE_ADDR"); v != "" {
		p.ClickHouseAddr = strings.Split(v, ",")
	}
	p.Defaults()
	if err := p.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "iocbench:", err)
		return 2
	}
	if pr.fraction < 0 || pr.fraction > 0.5 || pr.rate < 0 {
		fmt.Fprintln(os.Stderr, "iocbench: -poison must be a share between 0 and 0.5 (e.g. 0.001 for 0.1 %) and -poison-rate positive")
		return 2
	}
	if pr.window <= 0 {
		pr.window = p.LatencyWindow
	}
	if *out == "" {
		*out = "bench/results/latest.json"
		if p.Smoke {
			*out = os.TempDir() + "/iocbench-smoke.json"
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if *render != "" {
		return renderStored(*render, *doc)
	}
	raiseFileLimit(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "iocbench: -cpuprofile:", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	res, err := measure(ctx, &p, *lagBound, &pr, log)
	if res != nil {
		res.Finished = time.Now()
		res.Machine.LoadTo = bench.LoadAvg()
		res.Setup.Command = strings.Join(os.Args, " ")
		res.Evaluate()
		res.WriteText(os.Stdout)
		if pr.res != nil {
			pr.res.WriteText(os.Stdout)
		}
		if werr := res.WriteJSON(*out); werr != nil {
			log.Error("writing the JSON result", "err", werr)
		} else {
			fmt.Println("\nJSON:", *out)
		}
		if pr.res != nil {
			pout := strings.TrimSuffix(*out, ".json") + "-poison.json"
			if b, jerr := json.MarshalIndent(pr.res, "", "  "); jerr != nil {
				log.Error("encoding the poison result", "err", jerr)
			} else if werr := os.WriteFile(pout, append(b, '\n'), 0o644); werr != nil {
				log.Error("writing the poison result", "err", werr)
			} else {
				fmt.Println("JSON (poison):", pout)
			}
		}
		if *doc != "" {
			if derr := res.UpdateDoc(*doc); derr != nil {
				log.Error("updating the document", "err", derr)
			} else {
				fmt.Println("updated:", *doc)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "iocbench:", err)
		return 1
	}
	return 0
}

// renderStored prints a stored result and, with doc, refreshes its block.
func renderStored(path, doc string) int {
	b, err := os.ReadFile(path)
	var res bench.Result
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "iocbench: -render:", err)
		return 2
	}
	res.WriteText(os.Stdout)
	if doc != "" {
		if err := res.UpdateDoc(doc); err != nil {
			fmt.Fprintln(os.Stderr, "iocbench: -doc:", err)
			return 1
		}
		fmt.Println("updated:", doc)
	}
	return 0
}

// raiseFileLimit lifts the open-file limit to its hard maximum for this
// process and, because it is set explicitly, for the roles it starts
// (10,000 websocket clients need as many descriptors on each side).
func raiseFileLimit(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("cannot raise the open-file limit", "err", err)
	}
}

// measure runs the phases. It returns the result so far even when a phase
// fails, and an error for what makes the run unusable (a role died, data
// was lost).
func measure(ctx context.Context, p *bench.Params, lagBound float64, pr *poisonRun, log *slog.Logger) (*bench.Result, error) {
	run := fmt.Sprintf("%d%03d", time.Now().Unix()%1000000, rand.IntN(1000))
	res := &bench.Result{Started: time.Now(), Run: run, Smoke: p.Smoke, Machine: bench.DescribeMachine(),
		Setup: bench.Setup{Mode: p.Mode, Connections: p.Connections, Devices: p.Devices, Records: p.Records,
			ProbeFraction: p.ProbeFraction, StepWindow: p.StepWindow.String(), FinalWindow: p.FinalWindow.String(),
			LagBound: lagBound, CHPoll: p.CHPoll.String(), Settings: p.Set, Commit: bench.RepoCommit(p.Repo)}}
	dir, err := os.MkdirTemp("", "iocbench-"+run+"-")
	if err != nil {
		return nil, err
	}
	bin := p.IOC
	if bin == "" {
		log.Info("building ./cmd/ioc")
		if bin, err = bench.BuildIOC(ctx, p.Repo, dir); err != nil {
			return nil, err
		}
	}
	services := bench.ServicePids(p.Repo)
	for _, s := range services {
		if s.Pid == 0 {
			log.Warn("no pid for service (not started by services.sh?): its CPU and memory are not measured", "service", s.Name)
		}
	}
	log.Info("starting the pipeline", "run", run, "mode", p.Mode, "logs", dir)
	pipe, err := bench.StartPipeline(ctx, p, bin, dir, run, log)
	if err != nil {
		if pipe != nil && !p.Keep {
			pipe.Cleanup(context.WithoutCancel(ctx), p.MQTTURL)
		}
		return res, err
	}
	stopped := false
	stopPipe := func() {
		if !stopped {
			stopped = true
			pipe.Stop()
		}
	}
	measured := false
	defer func() {
		stopPipe()
		if !p.Keep {
			pipe.Cleanup(context.WithoutCancel(ctx), p.MQTTURL)
			if measured {
				os.RemoveAll(dir) // the roles' logs are kept only when the run failed
			}
		}
	}()
	chc := chconn.Config{Addr: p.ClickHouseAddr, Database: pipe.CH.Database}
	chc.Defaults()
	conn, err := chc.Open(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	load, err := bench.NewLoad(ctx, p.MQTTURL, "iocbench-"+run+"-pub", pipe.MountPoint, p.Connections, p.Records)
	if err != nil {
		return res, err
	}
	loadOpen := true
	closeLoad := func() {
		if loadOpen {
			loadOpen = false
			load.Close()
		}
	}
	defer closeLoad()
	wall, err := bench.DialWall(ctx, pipe.WallAddr, 1, 0, true)
	if err != nil {
		return res, err
	}
	wallOpen := true
	closeWall := func() {
		if wallOpen {
			wallOpen = false
			wall.Close()
		}
	}
	defer closeWall()
	procs := append(append(pipe.Procs(), services...), bench.SelfProc())
	r := &bench.Runner{P: p, Pipe: pipe, Load: load, CH: &bench.CHWatch{Conn: conn, DB: pipe.CH.Database}, Wall: wall,
		Procs: procs, Log: log, LagBound: lagBound}

	if !skip(p, "fanout") && p.FanoutClients > 0 {
		log.Info("fan-out", "clients", p.FanoutClients)
		f := r.Fanout(ctx)
		res.Fanout = &f
		if !skip(p, "ramp") || !skip(p, "latency") {
			log.Info("restarting the dashboard after the fan-out")
			if err := pipe.Restart(ctx, "dashboard"); err != nil {
				return res, err
			}
			r.Procs = append(append(pipe.Procs(), services...), bench.SelfProc())
		}
	}
	if !skip(p, "ramp") {
		var profiles func()
		if p.ProfileDir != "" {
			profiles = func() { bench.StartProfiles(ctx, pipe, p.ProfileDir, p.FinalWindow, log) }
		}
		r.OnConfirm = profiles
		best, steps := r.Search(ctx)
		res.Ramp = steps
		if best != nil {
			b := *best
			res.Max = &b
		}
	}
	if !skip(p, "latency") {
		var rates []float64
		if res.Max != nil {
			for _, f := range p.LatencyFractions {
				rates = append(rates, roundTo(res.Max.Offered*f))
			}
		}
		// Absolute rates run even above the maximum: the window then says
		// it was not sustained, which is the answer for that target.
		rates = append(rates, p.LatencyRates...)
		for _, rate := range rates {
			if ctx.Err() != nil {
				break
			}
			res.Latency = append(res.Latency, r.RunStep(ctx, "latency", rate, p.LatencyWindow))
		}
	}
	if pr.fraction > 0 && ctx.Err() == nil {
		rate := pr.rate
		switch {
		case rate > 0:
		case res.Max != nil:
			rate = roundTo(res.Max.Offered / 2)
		default:
			rate = 5000
		}
		pres := r.Poison(ctx, rate, pr.window, pr.fraction)
		pr.res = &pres
		if !pres.Pass {
			res.Errors = append(res.Errors, "poison: "+pres.Why)
		}
	}
	var all []*bench.Step
	if pr.res != nil {
		all = append(all, &pr.res.Clean, &pr.res.Poisoned)
	}
	for i := range res.Ramp {
		all = append(all, &res.Ramp[i])
	}
	for i := range res.Latency {
		all = append(all, &res.Latency[i])
	}
	lost, verr := r.Verify(ctx, all)
	if res.Max != nil {
		for _, s := range all {
			if s.Tag == res.Max.Tag {
				res.Max.Lost, res.Max.Rows, res.Max.Unique = s.Lost, s.Rows, s.Unique
			}
		}
	}
	// The comparison with the peer: the pipeline at one reading per
	// message over fewer connections, then (with the pipeline stopped)
	// Benthos at the same shape.
	runPeer := !skip(p, "peer") && p.Benthos != ""
	if !skip(p, "single") || runPeer {
		res.Peer = &bench.PeerResult{Connections: p.PeerConnections, Records: bench.PeerRecords, Devices: p.Devices}
	}
	if res.Peer != nil && !skip(p, "single") && ctx.Err() == nil {
		log.Info("pipeline at one reading per message", "connections", p.PeerConnections)
		side, l := bench.SearchSingle(ctx, p, run, pipe, conn, r.Procs, lagBound, log)
		res.Peer.Pipeline = &side
		lost += l // the pipeline never loses an acknowledged reading, overloaded or not
		if side.Error != "" {
			res.Errors = append(res.Errors, "one reading per message: "+firstLine(side.Error))
		} else if side.Max == nil && p.Smoke {
			res.Errors = append(res.Errors, "one reading per message: no rate was sustained")
		}
	}
	if err := pipe.Alive(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	closeWall()
	closeLoad()
	log.Info("stopping the pipeline")
	stopPipe()

	if runPeer && ctx.Err() == nil {
		side, cfg, yaml, _ := bench.SearchPeer(ctx, p, run, dir, services, lagBound, log)
		res.Peer.Peer, res.Peer.Benthos, res.Peer.Config = &side, cfg.Summary(), yaml
		// Benthos's losses are its own (an overloaded window may lose
		// what Mosquitto queued for it): reported, not the run's failure.
		if side.Error != "" {
			res.Errors = append(res.Errors, "Benthos: "+firstLine(side.Error)+" (see the comparison)")
		} else if side.Max == nil && p.Smoke {
			res.Errors = append(res.Errors, "Benthos: no rate was sustained")
		}
	}

	if !skip(p, "hops") {
		latRate := 10000.0
		if res.Max != nil {
			latRate = roundTo(res.Max.Offered / 2)
		}
		if p.Smoke {
			latRate = p.StartRate
		}
		service := func(name string) []bench.Proc {
			for _, s := range services {
				if s.Name == name {
					return []bench.Proc{s, bench.SelfProc()}
				}
			}
			return []bench.Proc{bench.SelfProc()}
		}
		log.Info("hop alone: broker")
		res.Hops = append(res.Hops, bench.BrokerHop(ctx, p, run, service("mosquitto"), latRate))
		log.Info("hop alone: kafka")
		res.Hops = append(res.Hops, bench.KafkaHop(ctx, p, run, service("kafka"), latRate))
		log.Info("hop alone: clickhouse")
		res.Hops = append(res.Hops, bench.ClickHouseHop(ctx, p, pipe.CH.Database, service("clickhouse"), latRate))
		for _, h := range res.Hops {
			if h.Error != "" {
				res.Errors = append(res.Errors, h.Hop+" hop: "+h.Error)
			}
		}
	}
	measured = ctx.Err() == nil && lost == 0 && verr == nil
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case lost > 0:
		return res, fmt.Errorf("%d acknowledged readings never reached ClickHouse", lost)
	case verr != nil:
		return res, verr
	case len(res.Errors) > 0 && p.Smoke:
		return res, fmt.Errorf("%d errors (see the report)", len(res.Errors))
	}
	return res, nil
}

// poisonRun is the poison phase: its flags and its result.
type poisonRun struct {
	fraction, rate float64
	window         time.Duration
	res            *bench.PoisonResult
}

// firstLine is an error's first line (a log's tail may follow).
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func skip(p *bench.Params, phase string) bool {
	for _, s := range p.Skip {
		if s == phase {
			return true
		}
	}
	return false
}

// roundTo keeps two significant digits of a rate.
func roundTo(r float64) float64 {
	if r <= 0 {
		return 0
	}
	mag := 1.0
	for r/mag >= 100 {
		mag *= 10
	}
	return float64(int64(r/mag+0.5)) * mag
}
