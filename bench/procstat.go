package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Proc is a process the benchmark measures: a pipeline role, a service or
// the load generator itself.
type Proc struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // role, service, bench
	Pid  int    `json:"pid"`
	// Own processes have their peak RSS counter reset at the start of each
	// window (/proc/<pid>/clear_refs); services are only sampled.
	Own bool `json:"-"`
}

// Usage is what a process used during a window.
type Usage struct {
	CPUSeconds float64 `json:"cpu_s"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	// PeakExact is true when the peak is the kernel's high-water mark
	// (VmHWM, reset at the window start); otherwise it is the largest of
	// samples taken every half second.
	PeakExact bool `json:"peak_exact"`
}

// cpuTicks reads utime+stime of a process.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after "(comm) " : state is field 3; utime, stime are 14, 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return u + s, nil
}

// memKB reads VmRSS and VmHWM of a process in KiB.
func memKB(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			rss = kbField(line)
		case strings.HasPrefix(line, "VmHWM:"):
			hwm = kbField(line)
		}
	}
	return rss, hwm, sc.Err()
}

func kbField(line string) int64 {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.ParseInt(f[1], 10, 64)
	return v
}

// resetPeak resets the VmHWM of a process we own (Linux ≥ 4.0).
func resetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// Meter measures CPU and peak RSS of a set of processes over a window,
// plus the machine's busy CPU time, so that what other programs used on a
// shared machine shows in the report.
type Meter struct {
	procs      []Proc
	startCPU   map[int]int64
	peakKB     map[int]int64
	exact      map[int]bool
	mu         sync.Mutex
	stop       chan struct{}
	done       chan struct{}
	startBusy  float64
	startSteal float64
	startAt    time.Time
}

// StartMeter begins a window.
func StartMeter(procs []Proc) *Meter {
	m := &Meter{procs: procs, startCPU: map[int]int64{}, peakKB: map[int]int64{}, exact: map[int]bool{},
		stop: make(chan struct{}), done: make(chan struct{}), startAt: time.Now()}
	for _, p := range procs {
		if p.Pid <= 0 {
			continue
		}
		if p.Own {
			m.exact[p.Pid] = resetPeak(p.Pid)
		}
		if t, err := cpuTicks(p.Pid); err == nil {
			m.startCPU[p.Pid] = t
		}
	}
	m.startBusy, m.startSteal, _ = machineCPU()
	m.sample()
	go m.loop()
	return m
}

func (m *Meter) loop() {
	defer close(m.done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sample()
		}
	}
}

func (m *Meter) sample() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.procs {
		if p.Pid <= 0 {
			continue
		}
		rss, hwm, err := memKB(p.Pid)
		if err != nil {
			continue
		}
		if m.exact[p.Pid] {
			rss = max(rss, hwm)
		}
		m.peakKB[p.Pid] = max(m.peakKB[p.Pid], rss)
	}
}

// WindowUsage is the outcome of a window.
type WindowUsage struct {
	Seconds float64          `json:"seconds"`
	Procs   map[string]Usage `json:"procs"`
	// MachineBusyCPU is the busy CPU time of the whole machine (all cores)
	// and OtherCPU what processes outside Procs used: compile jobs, tests
	// and whatever else shares the machine.
	MachineBusyCPU float64 `json:"machine_busy_cpu_s"`
	OtherCPU       float64 `json:"other_cpu_s"`
	// StealCPU is time the hypervisor ran other machines while this one
	// wanted the CPU: a crowded host.
	StealCPU float64 `json:"steal_cpu_s"`
	Load1    float64 `json:"load1_end"`
}

// Stop ends the window.
func (m *Meter) Stop() WindowUsage {
	close(m.stop)
	<-m.done
	m.sample()
	busy, steal, _ := machineCPU()
	w := WindowUsage{Seconds: round2(time.Since(m.startAt).Seconds()), Procs: map[string]Usage{}, MachineBusyCPU: round2(busy - m.startBusy),
		StealCPU: round2(steal - m.startSteal)}
	var measured float64
	for _, p := range m.procs {
		if p.Pid <= 0 {
			continue
		}
		t, err := cpuTicks(p.Pid)
		if err != nil {
			continue
		}
		cpu := float64(t-m.startCPU[p.Pid]) / clockTicks
		measured += cpu
		m.mu.Lock()
		w.Procs[p.Name] = Usage{CPUSeconds: round2(cpu), PeakRSSMB: round1(float64(m.peakKB[p.Pid]) / 1024), PeakExact: m.exact[p.Pid]}
		m.mu.Unlock()
	}
	w.OtherCPU = round2(max(0, w.MachineBusyCPU-measured))
	w.Load1 = LoadAvg()[0]
	return w
}

// machineCPU is the CPU time all cores spent running something since
// boot (user, nice, system, irq, softirq) and the time the hypervisor
// gave to other machines while ours wanted to run (steal).
func machineCPU() (busy, steal float64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("parsing /proc/stat")
	}
	var t [8]int64
	for i := range t {
		t[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal (guest is within user)
	return float64(t[0]+t[1]+t[2]+t[5]+t[6]) / clockTicks, float64(t[7]) / clockTicks, nil
}

// LoadAvg is the 1, 5 and 15 minute load average.
func LoadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// Machine describes where the benchmark ran.
type Machine struct {
	Host     string     `json:"host"`
	CPU      string     `json:"cpu"`
	Cores    int        `json:"cores"`
	MemGiB   float64    `json:"mem_gib"`
	Kernel   string     `json:"kernel"`
	Go       string     `json:"go"`
	LoadFrom [3]float64 `json:"load_start"`
	LoadTo   [3]float64 `json:"load_end"`
}

// DescribeMachine reads /proc for the report.
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadFrom: LoadAvg()}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				m.MemGiB = round1(float64(kbField(line)) / (1 << 20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
