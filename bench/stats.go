// Package bench holds the parts of iocbench, the benchmark harness of the
// pipeline: an open-loop MQTT load, latency recorders, /proc meters, the
// pipeline roles run as processes, each hop measured alone, and the report.
// Nothing here is imported by the ioc binary.
package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// Recorder keeps latency samples in microseconds. Past its capacity it keeps
// a uniform random sample of everything recorded (reservoir sampling), so
// percentiles stay unbiased however long the run.
type Recorder struct {
	mu      sync.Mutex
	samples []int64
	seen    int64
	max     int64
	cap     int
	rng     *rand.Rand
}

// NewRecorder keeps at most capacity samples.
func NewRecorder(capacity int) *Recorder {
	return &Recorder{cap: capacity, rng: rand.New(rand.NewPCG(1, 2)), samples: make([]int64, 0, min(capacity, 1<<16))}
}

// Add records one latency in microseconds.
func (r *Recorder) Add(us int64) {
	r.mu.Lock()
	r.add(us)
	r.mu.Unlock()
}

// AddMany records several latencies under one lock.
func (r *Recorder) AddMany(us []int64) {
	r.mu.Lock()
	for _, v := range us {
		r.add(v)
	}
	r.mu.Unlock()
}

func (r *Recorder) add(us int64) {
	r.seen++
	r.max = max(r.max, us)
	if len(r.samples) < r.cap {
		r.samples = append(r.samples, us)
		return
	}
	if j := r.rng.Int64N(r.seen); j < int64(r.cap) {
		r.samples[j] = us
	}
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary computes the percentiles of what was recorded.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	s := slices.Clone(r.samples)
	seen, mx := r.seen, r.max
	r.mu.Unlock()
	return summarize(s, seen, mx)
}

func summarize(s []int64, seen, mx int64) Summary {
	if len(s) == 0 {
		return Summary{}
	}
	slices.Sort(s)
	return Summary{Count: seen, P50: ms(quantile(s, 0.50)), P99: ms(quantile(s, 0.99)), P999: ms(quantile(s, 0.999)), Max: ms(mx)}
}

// quantile is the nearest-rank quantile of sorted samples.
func quantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func ms(us int64) float64 { return math.Round(float64(us)/10) / 100 }

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
