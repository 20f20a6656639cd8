package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// proc is one process of the ioc binary (ingest, stream or dashboard).
type proc struct {
	name    string // e.g. stream#3: the third stream process of the run
	role    string
	ops     string // host:port of /metrics and /readyz
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error       // from Wait, valid once done is closed
	expect  atomic.Bool // we signalled it: its exit is not a failure
	hwmKB   atomic.Int64
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startProc starts `ioc <role> -config <cfg>` with a clean environment: no
// IOC_* variable of the caller leaks in (they would point at the default
// services), only what the suite sets.
func (r *run) startProc(role string) (*proc, error) {
	r.mu.Lock()
	r.seq[role]++
	n := r.seq[role]
	r.mu.Unlock()
	p := &proc{role: role, name: fmt.Sprintf("%s#%d", role, n), done: make(chan struct{})}
	var err error
	if p.ops, err = freeAddr(); err != nil {
		return nil, err
	}
	p.logPath = filepath.Join(r.dir, fmt.Sprintf("%s-%d.log", role, n))
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IOC_") {
			env = append(env, kv)
		}
	}
	env = append(env, "IOC_OPS_LISTEN="+p.ops)
	if role == "dashboard" {
		wall, err := freeAddr()
		if err != nil {
			return nil, err
		}
		env = append(env, "IOC_DASHBOARD_LISTEN="+wall)
	}
	p.cmd = exec.Command(r.e.bin, role, "-config", r.config)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// If the test binary dies, its pipeline processes die with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
		if !p.expect.Load() {
			r.errorf("%s exited on its own (%v); see %s", p.name, p.err, p.logPath)
		}
	}()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	r.logf("started %s (pid %d, ops %s)", p.name, p.cmd.Process.Pid, p.ops)
	return p, nil
}

// waitReady polls /readyz until the process answers 200.
func (p *proc) waitReady(timeout time.Duration) error {
	client := http.Client{Timeout: time.Second}
	exited, ready := false, false
	testpoll.Poll(timeout, testpoll.Interval, func() bool {
		select {
		case <-p.done:
			exited = true
			return true
		default:
		}
		if resp, err := client.Get("http://" + p.ops + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
		return ready
	})
	switch {
	case exited:
		return fmt.Errorf("%s exited before it was ready (%v); see %s", p.name, p.err, p.logPath)
	case ready:
		return nil
	}
	return fmt.Errorf("%s not ready after %s; see %s", p.name, timeout, p.logPath)
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig; the exit that follows is expected.
func (p *proc) signal(sig syscall.Signal) {
	p.sampleRSS()
	p.expect.Store(true)
	_ = p.cmd.Process.Signal(sig)
}

// stop sends SIGTERM and waits up to timeout for the exit; it reports the
// exit code (-1 if the process had to be killed) and how long it took.
func (p *proc) stop(timeout time.Duration) (code int, took time.Duration) {
	start := time.Now()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.signal(syscall.SIGKILL)
		<-p.done
		return -1, time.Since(start)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// sampleRSS records the process's peak resident set (VmHWM).
func (p *proc) sampleRSS() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	if kb := procStatusKB(p.cmd.Process.Pid, "VmHWM"); kb > p.hwmKB.Load() {
		p.hwmKB.Store(kb)
	}
}

// procStatusKB reads one "Vm…: N kB" line of /proc/<pid>/status, 0 if gone.
func procStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// metrics scrapes the process's Prometheus endpoint; series of one name
// are summed over their labels.
func (p *proc) metrics() (map[string]float64, error) {
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + p.ops + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseMetrics(b), nil
}

func parseMetrics(b []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

// metric scrapes one value, NaN-free: an error reads as -1.
func (p *proc) metric(name string) float64 {
	m, err := p.metrics()
	if err != nil {
		return -1
	}
	return m[name]
}

// rssSampler follows the peak memory of the run's processes: VmHWM of the
// pipeline processes (exact: they live only during the run) and the highest
// VmRSS seen each 500 ms for the services (which outlive a run).
type rssSampler struct {
	mu      sync.Mutex
	svcPeak map[string]int64 // kB
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (r *run) sampleRSS() {
	s := &rssSampler{svcPeak: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	r.rss = s
	go func() {
		defer close(s.done)
		pids := map[string]int{}
		var refreshed time.Time
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if time.Since(refreshed) > 3*time.Second {
				for _, svc := range r.e.serviceNames() {
					pids[svc] = r.e.servicePID(svc)
				}
				refreshed = time.Now()
			}
			for svc, pid := range pids {
				kb := procStatusKB(pid, "VmRSS")
				if kb == 0 && pid != 0 {
					refreshed = time.Time{} // gone: look it up again
				}
				// One column per kind of service: kafka-2 counts as kafka,
				// clickhouse-s1r1 as clickhouse (the peak of any of them).
				col, _, _ := strings.Cut(svc, "-")
				s.mu.Lock()
				s.svcPeak[col] = max(s.svcPeak[col], kb)
				s.mu.Unlock()
			}
			for _, p := range r.processes() {
				if p.alive() {
					p.sampleRSS()
				}
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

func (e *env) serviceNames() []string {
	if e.cluster != "" {
		return clusterServices
	}
	return []string{"mosquitto", "kafka", "clickhouse"}
}

func (s *rssSampler) finish() map[string]int64 {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svcPeak
}
