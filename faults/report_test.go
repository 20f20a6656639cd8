package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// result is one row of the reliability table.
type result struct {
	Name, Title string
	Unsafe      bool
	Aborted     bool // the scenario stopped before its verdict
	Sent, Acked int64
	Stored      int64 // rows of the analyst view
	Lost        int64 // acknowledged, not in the view
	DupVisible  int64 // count() - uniqExact(event_id) of the view
	RawDup      int64 // redelivered rows the raw table still holds (hidden by the view)
	Foreign     int64 // stored ids never sent
	Recover     time.Duration
	RSS         map[string]int64 // MiB
	Notes       []string
	Errors      []string
	Elapsed     time.Duration
}

func (r result) verdict() string {
	switch {
	case r.Aborted:
		return "ABORTED"
	case r.Unsafe && (r.Lost > 0 || r.DupVisible > 0):
		return "caught (expected)"
	case r.Unsafe:
		return "NOT CAUGHT"
	case len(r.Errors) > 0:
		return "FAIL"
	}
	return "pass"
}

func (r result) recoverText() string {
	if r.Recover < 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f s", r.Recover.Seconds())
}

var rssColumns = []string{"ingest", "stream", "dashboard", "mosquitto", "kafka", "clickhouse"}

// renderTable is the Markdown table of the results.
func renderTable(rs []result) string {
	var b strings.Builder
	b.WriteString("| scenario | sent | acked | stored | lost | dup visible | redelivered (raw, max seen) | time to recover | peak RSS MiB: ingest / stream / dashboard / mosquitto / kafka / clickhouse | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range rs {
		var rss []string
		for _, c := range rssColumns {
			if v, ok := r.RSS[c]; ok && v > 0 {
				rss = append(rss, fmt.Sprint(v))
			} else {
				rss = append(rss, "–")
			}
		}
		fmt.Fprintf(&b, "| %s: %s | %d | %d | %d | **%d** | **%d** | %d | %s | %s | %s |\n",
			r.Name, r.Title, r.Sent, r.Acked, r.Stored, r.Lost, r.DupVisible, r.RawDup, r.recoverText(),
			strings.Join(rss, " / "), r.verdict())
	}
	var notes []string
	for _, r := range rs {
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("- %s: %s", r.Name, n))
		}
		for _, e := range r.Errors {
			notes = append(notes, fmt.Sprintf("- %s: **failure**: %s", r.Name, e))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

const (
	beginMark = "<!-- BEGIN fault suite results (written by faults/, do not edit by hand) -->"
	endMark   = "<!-- END fault suite results -->"

	clusterBeginMark = "<!-- BEGIN cluster node-loss results (written by faults/ with IOC_CLUSTER_FAULTS, do not edit by hand) -->"
	clusterEndMark   = "<!-- END cluster node-loss results -->"
)

// writeReport replaces the results section of the report file (between the
// markers) with this run's table and machine description.
func writeReport(path string, e *env, rs []result) error {
	if !filepath.IsAbs(path) {
		path = filepath.Join(e.repo, path)
	}
	begin, end, heading := beginMark, endMark, "## Results"
	if e.cluster != "" {
		begin, end, heading = clusterBeginMark, clusterEndMark, "## Node loss on the cluster: results"
	}
	var b strings.Builder
	b.WriteString(begin + "\n\n")
	fmt.Fprintf(&b, "Run of %s, mode `%s`, %d readings/s over %d MQTT connections, suite time %s.\n\n",
		e.started.Format("2006-01-02 15:04 MST"), e.mode, e.rate, e.conns, time.Since(e.started).Round(time.Second))
	tm := e.tm
	if e.cluster != "" {
		ct := e.ctm()
		fmt.Fprintf(&b, "Topology: three Kafka brokers (RF 3, min.insync.replicas 2), ZooKeeper, ClickHouse %s as 2 shards × 2 replicas "+
			"(deploy/local/cluster.sh); the roles configured as deploy/ioc-cluster.yaml. Durations: load %s before each fault and %s after "+
			"its recovery; a broker down %s; a replica down %s; a shard down %s; ZooKeeper down %s.\n\n",
			e.cluster, tm.warm, tm.post, ct.brokerDown, ct.replicaDown, ct.shardDown, ct.zkDown)
	} else {
		fmt.Fprintf(&b, "Durations: load %s before each fault and %s after its recovery; ClickHouse down %s; Kafka down %s; "+
			"ingest down %s; ClickHouse stalled %s; second stream instance for %s; roles stopped %s; %d stream kills %s–%s apart.\n\n",
			tm.warm, tm.post, tm.chDown, tm.kafkaDown, tm.ingestDown, tm.stall, tm.second, tm.termDown, tm.kills, tm.killMin, tm.killMax)
	}
	b.WriteString(renderTable(rs))
	b.WriteString("\n**Machine.** " + machine(e) + "\n\n" + end)
	section := b.String()

	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i >= 0 && j > i {
		text = text[:i] + section + text[j+len(end):]
	} else {
		text += "\n" + heading + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// machine describes where the suite ran.
func machine(e *env) string {
	var parts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				parts = append(parts, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")))
				break
			}
		}
	}
	parts = append(parts, fmt.Sprintf("%d CPUs", runtime.NumCPU()))
	if kb := procStatusKBFile("/proc/meminfo", "MemTotal"); kb > 0 {
		parts = append(parts, fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20)))
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		parts = append(parts, strings.TrimSpace(string(out)))
	}
	parts = append(parts, runtime.Version())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var v string
	if err := e.conn.QueryRow(ctx, "SELECT version()").Scan(&v); err == nil {
		parts = append(parts, "ClickHouse "+v)
	}
	if jars, _ := filepath.Glob(filepath.Join(e.local, "kafka", "libs", "kafka_2.13-*.jar")); len(jars) > 0 {
		n := ""
		if e.cluster != "" {
			n = "3 × "
		}
		parts = append(parts, n+"Apache Kafka "+strings.TrimSuffix(strings.TrimPrefix(filepath.Base(jars[0]), "kafka_2.13-"), ".jar")+" (KRaft)")
	}
	if out, _ := exec.Command("mosquitto", "-h").CombinedOutput(); len(out) > 0 {
		parts = append(parts, strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
	}
	parts = append(parts, "load generator, pipeline and services on the same machine, other work running beside them")
	return strings.Join(parts, "; ") + "."
}

func procStatusKBFile(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var n int64
			if _, err := fmt.Sscan(strings.TrimSpace(rest), &n); err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}
