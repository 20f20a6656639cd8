package bench

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Params is everything a benchmark run can vary. Defaults are the full run
// of `make bench`; Smoke shrinks them to a few seconds per phase.
type Params struct {
	// Services (the local ones of deploy/local/services.sh by default).
	MQTTURL        string
	KafkaBrokers   []string
	ClickHouseAddr []string
	// Repo is the repository root (services.sh, deploy/devices.csv).
	Repo string
	// IOC is the ioc binary; empty builds ./cmd/ioc into a temp folder.
	IOC string
	// Mode "roles" runs ingest, stream and dashboard as three processes;
	// "run" runs them in one `ioc run` process.
	Mode string
	// Set holds extra pipeline settings, key.path=value (YAML value), e.g.
	// ingest.linger=5ms.
	Set []string

	// The simulated fleet.
	Connections   int     // MQTT connections publishing
	Devices       int     // devices per step (each step has its own ids)
	Records       int     // readings per MQTT message (a SenML pack)
	ProbeFraction float64 // share of messages whose arrival in ClickHouse is timed
	CHPoll        time.Duration

	// The search for the maximum sustained rate (readings/s).
	StartRate    float64
	Factor       float64
	MaxRate      float64
	StepWindow   time.Duration
	FinalWindow  time.Duration
	Refine       int // bisection steps between the last pass and the first fail
	Retries      int // confirmation attempts, each 15 % lower
	DrainTimeout time.Duration
	Settle       time.Duration // ignored at the start of each window (warm-up)

	// Latency points: fractions of the maximum rate plus absolute rates.
	LatencyFractions []float64
	LatencyRates     []float64
	LatencyWindow    time.Duration

	// Fan-out of the wall.
	FanoutClients int     // the largest count (the target)
	FanoutSteps   []int   // smaller counts measured first
	FanoutStalled float64 // share of FanoutClients stalled in a last window
	FanoutRate    float64 // MQTT messages per second during the fan-out
	FanoutWindow  time.Duration

	// Each hop alone.
	HopWindow time.Duration // saturation time of the broker and Kafka hops
	HopRows   int           // rows of the ClickHouse bulk insert

	// The comparison with the peer: the pipeline searched again with one
	// reading per message over PeerConnections (phase "single"), then
	// Benthos at the same shape (phase "peer") if Benthos names its
	// binary (bench/benthos, built by `make bench-peer-build`).
	PeerConnections int
	Benthos         string

	// Skip names phases to leave out: fanout, ramp, latency, single,
	// peer, hops.
	Skip []string
	// ProfileDir, if set, receives a CPU profile of every role taken
	// during the confirmation window.
	ProfileDir string
	// Keep leaves the run's database, topics and session in place.
	Keep  bool
	Smoke bool
}

// PeerRecords is the readings per message of the comparison with the peer:
// one, as a device that reports each value on its own (Benthos's
// args_mapping, PeerConfig, writes one row per message).
const PeerRecords = 1

// Defaults fills unset fields for the full run (about 10–15 minutes).
func (p *Params) Defaults() {
	def := func(v *time.Duration, full, smoke time.Duration) {
		if *v == 0 {
			*v = full
			if p.Smoke {
				*v = smoke
			}
		}
	}
	defInt := func(v *int, full, smoke int) {
		if *v == 0 {
			*v = full
			if p.Smoke {
				*v = smoke
			}
		}
	}
	defF := func(v *float64, full, smoke float64) {
		if *v == 0 {
			*v = full
			if p.Smoke {
				*v = smoke
			}
		}
	}
	if p.MQTTURL == "" {
		p.MQTTURL = "tcp://127.0.0.1:1883"
	}
	if len(p.KafkaBrokers) == 0 {
		p.KafkaBrokers = []string{"127.0.0.1:9092"}
	}
	if len(p.ClickHouseAddr) == 0 {
		p.ClickHouseAddr = []string{"127.0.0.1:9000"}
	}
	if p.Repo == "" {
		p.Repo = "."
	}
	if p.Mode == "" {
		p.Mode = "roles"
	}
	defInt(&p.Connections, 100, 4)
	defInt(&p.Devices, 10000, 100)
	defInt(&p.Records, 5, 5)
	defF(&p.ProbeFraction, 0.02, 0.2)
	def(&p.CHPoll, 100*time.Millisecond, 100*time.Millisecond)
	defF(&p.StartRate, 10000, 200)
	defF(&p.Factor, 1.5, 2)
	defF(&p.MaxRate, 400000, 400)
	def(&p.StepWindow, 20*time.Second, 2*time.Second)
	def(&p.FinalWindow, 60*time.Second, 3*time.Second)
	defInt(&p.Refine, 2, 0)
	defInt(&p.Retries, 2, 0)
	def(&p.DrainTimeout, 90*time.Second, 30*time.Second)
	def(&p.Settle, 5*time.Second, 500*time.Millisecond)
	if p.LatencyFractions == nil {
		p.LatencyFractions = []float64{0.25, 0.5, 0.9}
	}
	if p.LatencyRates == nil {
		p.LatencyRates = []float64{10000}
		if p.Smoke {
			p.LatencyRates = []float64{}
		}
	}
	def(&p.LatencyWindow, 30*time.Second, 2*time.Second)
	defInt(&p.FanoutClients, 10000, 50)
	if p.FanoutSteps == nil {
		p.FanoutSteps = []int{1000, 5000}
		if p.Smoke {
			p.FanoutSteps = []int{20}
		}
	}
	if p.FanoutStalled == 0 {
		p.FanoutStalled = 0.01
		if p.Smoke {
			p.FanoutStalled = 0.1
		}
	}
	defF(&p.FanoutRate, 1, 1)
	def(&p.FanoutWindow, 30*time.Second, 3*time.Second)
	defInt(&p.PeerConnections, 20, 2)
	def(&p.HopWindow, 15*time.Second, 2*time.Second)
	defInt(&p.HopRows, 2_000_000, 20_000)
}

// Validate reports parameters that cannot work.
func (p *Params) Validate() error {
	switch {
	case p.Mode != "roles" && p.Mode != "run":
		return fmt.Errorf("-mode %q: expected roles or run", p.Mode)
	case p.Connections < 1 || p.Devices < p.Connections:
		return errors.New("-connections must be positive and -devices at least -connections")
	case p.Records < 1 || p.Records > 1000:
		return fmt.Errorf("-records %d is outside 1..1000 (ingest's limit per message)", p.Records)
	case p.PeerConnections < 1 || p.Devices < p.PeerConnections:
		return errors.New("-peer-connections must be positive and -devices at least -peer-connections")
	case p.ProbeFraction <= 0 || p.ProbeFraction > 1:
		return errors.New("-probe must be in (0, 1]")
	case p.StartRate <= 0 || p.Factor <= 1 || p.MaxRate < p.StartRate:
		return errors.New("-start must be positive, -factor above 1 and -max at least -start")
	case p.StepWindow < time.Second/2 || p.FinalWindow < time.Second/2 || p.LatencyWindow < time.Second/2:
		return errors.New("windows must be at least 500ms")
	case p.Settle >= p.StepWindow:
		return errors.New("-settle must be shorter than -step")
	case p.FanoutClients < 0 || p.FanoutRate <= 0:
		return errors.New("-fanout-clients must not be negative and -fanout-rate must be positive")
	case p.FanoutStalled < 0 || p.FanoutStalled >= 1:
		return errors.New("-fanout-stalled must be in [0, 1)")
	}
	for _, f := range p.LatencyFractions {
		if f <= 0 || f > 1 {
			return fmt.Errorf("latency fraction %v is outside (0, 1]", f)
		}
	}
	for _, s := range p.Set {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("-set %q: expected key.path=value", s)
		}
	}
	for _, s := range p.Skip {
		switch s {
		case "fanout", "ramp", "latency", "single", "peer", "hops":
		default:
			return fmt.Errorf("-skip %q: expected fanout, ramp, latency, single, peer or hops", s)
		}
	}
	return nil
}
