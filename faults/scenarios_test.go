package faults

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// timing holds the durations of one mode. Quick keeps every scenario but
// shortens the faults so that the suite fits in CI.
type timing struct {
	warm, post       time.Duration // load before the fault and after the recovery
	chDown           time.Duration // ClickHouse killed for this long
	kafkaDown        time.Duration // Kafka killed for this long
	ingestDown       time.Duration // ingest killed for this long
	stall            time.Duration // ClickHouse SIGSTOPped for this long
	second           time.Duration // lifetime of the second stream instance
	termDown         time.Duration // every role stopped for this long
	kills            int           // stream SIGKILLs
	killMin, killMax time.Duration // between two stream kills
	quiet            time.Duration // no progress for this long: what is missing stays missing
	converge         time.Duration // hard bound on waiting for ClickHouse
}

var timings = map[string]timing{
	"full": {warm: 15 * time.Second, post: 15 * time.Second, chDown: 60 * time.Second, kafkaDown: 20 * time.Second,
		ingestDown: 30 * time.Second, stall: 20 * time.Second, second: 30 * time.Second, termDown: 10 * time.Second,
		kills: 5, killMin: 10 * time.Second, killMax: 30 * time.Second, quiet: 40 * time.Second, converge: 5 * time.Minute},
	"quick": {warm: 4 * time.Second, post: 4 * time.Second, chDown: 15 * time.Second, kafkaDown: 5 * time.Second,
		ingestDown: 10 * time.Second, stall: 10 * time.Second, second: 12 * time.Second, termDown: 4 * time.Second,
		kills: 2, killMin: 10 * time.Second, killMax: 15 * time.Second, quiet: 30 * time.Second, converge: 3 * time.Minute},
}

// scenario is one fault: fault runs while the load is on, makes its own
// checks (r.errorf) and calls r.recovered() when the fault is over.
type scenario struct {
	name      string
	title     string
	dashboard bool          // also run the dashboard role
	unsafe    bool          // stream.unsafe_commit_before_insert
	settle    time.Duration // stream.settle_after (its default when zero)
	fault     func(r *run)
	// verify, if set, runs after the readings converged (the cluster's
	// replicas in step, every server showing the same rows).
	verify func(r *run, res *result)
}

var scenarios = []scenario{
	{name: "ch-kill", title: "ClickHouse SIGKILLed, restarted after the outage", fault: func(r *run) {
		r.faultBegins()
		r.svc("kill", "clickhouse")
		r.pause(r.e.tm.chDown)
		r.svc("up", "clickhouse")
		r.recovered()
	}},
	{name: "kafka-kill", title: "Kafka broker SIGKILLed, restarted", fault: func(r *run) {
		r.faultBegins()
		r.svc("kill", "kafka")
		r.pause(r.e.tm.kafkaDown)
		r.svc("up", "kafka")
		r.recovered()
	}},
	{name: "stream-kill", title: "stream SIGKILLed mid-batch, repeatedly, and restarted", fault: killStreamRepeatedly},
	{name: "ingest-kill", title: "ingest SIGKILLed; the broker queues in its persistent session", fault: func(r *run) {
		r.faultBegins()
		before := r.load.acked.count()
		r.get("ingest").kill()
		r.logf("ingest killed")
		r.pause(r.e.tm.ingestDown)
		if got := r.load.acked.count() - before; got == 0 {
			r.errorf("Mosquitto acknowledged nothing while ingest was down: the broker did not queue")
		} else {
			r.note("%d readings acknowledged by Mosquitto while ingest was down", got)
		}
		r.restart("ingest", "ingest")
		r.recovered()
	}},
	{name: "mqtt-restart", title: "Mosquitto restarted (SIGTERM, start)", fault: func(r *run) {
		r.faultBegins()
		r.svc("restart", "mosquitto")
		r.recovered()
	}},
	{name: "rebalance", title: "second stream instance added, then removed (rebalances)", fault: func(r *run) {
		r.faultBegins()
		first := r.get("stream")
		second := r.launch("stream2", "stream")
		r.pause(r.e.tm.second)
		w1, w2 := first.metric("ioc_stream_rows_written_total"), second.metric("ioc_stream_rows_written_total")
		if w2 <= 0 {
			r.errorf("the second stream instance wrote no rows in %s: the group did not hand it partitions", r.e.tm.second)
		} else {
			r.note("while both ran, the second instance wrote %.0f rows (the first %.0f in total)", w2, w1)
		}
		code, took := second.stop(60 * time.Second)
		if code != 0 {
			r.errorf("the second stream instance exited with code %d on SIGTERM", code)
		}
		r.logf("second stream instance removed (exit %d in %.1fs)", code, took.Seconds())
		r.recovered()
	}},
	{name: "settled-mqtt-restart", title: "Mosquitto restarted while stream is settled (each batch looked up, copies left out)",
		settle: 75 * time.Second, fault: restartMQTTSettled, verify: noCopyStored},
	{name: "ch-stall", title: "ClickHouse stalled (SIGSTOP), then resumed", fault: stallClickHouse},
	{name: "sigterm", title: "SIGTERM to every role, restarted", dashboard: true, fault: terminateAll},
}

// restartMQTTSettled waits until stream is settled (stream.settle_after
// after its start), restarts Mosquitto (ingest reconnects and the broker
// redelivers what it had not acknowledged), and checks that stream stayed
// settled: every batch looked up, none written with the watermark lowered.
func restartMQTTSettled(r *run) {
	s := r.get("stream")
	if !testpoll.Poll(r.sc.settle+30*time.Second, 500*time.Millisecond, func() bool {
		return s.metric("ioc_stream_settled") == 1
	}) {
		r.errorf("stream did not settle within %s of stream.settle_after %s", 30*time.Second, r.sc.settle)
	}
	unsettled := s.metric("ioc_stream_unsettled_batches_total")
	r.faultBegins()
	r.svc("restart", "mosquitto")
	r.recovered()
	r.pause(r.e.tm.post)
	if got := s.metric("ioc_stream_unsettled_batches_total"); got != unsettled {
		r.errorf("stream wrote %.0f batches unsettled after it settled (a restart of Mosquitto is no reason to)", got-unsettled)
	}
	r.note("settled stream: %.0f readings looked up and left out as already stored",
		s.metric("ioc_stream_readings_already_stored_total"))
}

// noCopyStored: a settled stream inserts each reading once, so the raw
// table never held a copy (an unsettled one stores redeliveries, and the
// view groups them).
func noCopyStored(r *run, res *result) {
	if n := r.rawDup.max.Load(); n > 0 {
		r.errorf("a settled stream stored %d copies of readings in %s", n, r.raw())
	}
}

// unsafeScenario is stream-kill with offsets committed before the insert:
// the suite must report loss. Each kill comes while ClickHouse is paused,
// so that stream is inside the unsafe window (its batch committed, the
// insert in flight) every time: killed at random moments, as stream-kill
// does, it lost 995 to 21,804 readings in most CI runs and none in one
// (ci21), and the check that the suite can fail failed.
var unsafeScenario = scenario{name: "unsafe-stream-kill", title: "UNSAFE: stream.unsafe_commit_before_insert, stream SIGKILLed mid-insert",
	unsafe: true, fault: killStreamMidInsert}

// killStreamMidInsert kills stream while its insert hangs on a paused
// ClickHouse, then resumes ClickHouse and restarts stream.
func killStreamMidInsert(r *run) {
	r.faultBegins()
	for i := 0; i < r.e.tm.kills; i++ {
		r.pause(randBetween(r.e.tm.killMin, r.e.tm.killMax))
		r.svc("pause", "clickhouse")
		// The pace is the subject: stream flushes within stream.max_age
		// (1 s), and the unsafe setting commits the batch every max_age/4
		// before that flush; 2 s leave a flush hanging on the insert.
		r.pause(2 * time.Second)
		r.get("stream").kill()
		r.svc("resume", "clickhouse")
		r.logf("stream killed mid-insert (%d of %d)", i+1, r.e.tm.kills)
		r.restart("stream", "stream")
	}
	r.recovered()
}

func killStreamRepeatedly(r *run) {
	r.faultBegins()
	for i := 0; i < r.e.tm.kills; i++ {
		r.pause(randBetween(r.e.tm.killMin, r.e.tm.killMax))
		p := r.get("stream")
		batch := p.metric("ioc_stream_batch_rows_count")
		p.kill()
		r.logf("stream killed (%d of %d; %.0f batches written by it)", i+1, r.e.tm.kills, batch)
		r.restart("stream", "stream")
	}
	r.recovered()
}

func stallClickHouse(r *run) {
	e := r.e
	st, in := r.get("stream"), r.get("ingest")
	r.faultBegins()
	r.svc("pause", "clickhouse")
	// Give the insert in flight at the pause its moment, then watch.
	r.pause(min(2*time.Second, e.tm.stall/4))
	written0, acked0 := st.metric("ioc_stream_rows_written_total"), in.metric("ioc_ingest_mqtt_acked_total")
	rss0 := procStatusKB(st.cmd.Process.Pid, "VmRSS")
	r.pause(e.tm.stall - min(2*time.Second, e.tm.stall/4))
	written1, acked1 := st.metric("ioc_stream_rows_written_total"), in.metric("ioc_ingest_mqtt_acked_total")
	rss1 := procStatusKB(st.cmd.Process.Pid, "VmRSS")
	lag := st.metric("ioc_stream_consumer_lag")
	backlog, err := r.backlog()
	if err != nil {
		r.errorf("measuring the Kafka backlog: %v", err)
	}
	r.svc("resume", "clickhouse")
	r.recovered()
	switch {
	case written1 != written0:
		r.errorf("stream reported %.0f rows written while ClickHouse was stopped", written1-written0)
	case acked1 <= acked0:
		r.errorf("ingest acknowledged nothing while ClickHouse was stopped (it should not depend on ClickHouse)")
	}
	// What stream holds is bounded by stream.fetch_queue and one batch; the
	// backlog waits in Kafka.
	grow := (rss1 - rss0) / 1024
	if grow > 64 {
		r.errorf("stream RSS grew by %d MiB during the stall (%d → %d MiB): something buffers without bound", grow, rss0/1024, rss1/1024)
	}
	if backlog <= 0 {
		r.errorf("Kafka held no backlog at the end of the stall: consumption did not pause")
	}
	r.note("during the stall: stream wrote 0 rows; ingest acknowledged %.0f messages into Kafka; backlog at the broker %d readings "+
		"(stream's ioc_stream_consumer_lag gauge said %.0f); stream RSS %d → %d MiB", acked1-acked0, backlog, lag, rss0/1024, rss1/1024)
}

func terminateAll(r *run) {
	r.faultBegins()
	type stopped struct {
		name string
		code int
		took time.Duration
	}
	names := []string{"ingest", "stream", "dashboard"}
	out := make(chan stopped, len(names))
	for _, n := range names {
		p := r.get(n)
		go func() {
			code, took := p.stop(60 * time.Second)
			out <- stopped{n, code, took}
		}()
	}
	var parts []string
	for range names {
		s := <-out
		if s.code != 0 {
			r.errorf("%s exited with code %d on SIGTERM (-1: still running after 60 s)", s.name, s.code)
		}
		parts = append(parts, s.name+" "+s.took.Round(100*time.Millisecond).String())
	}
	r.note("graceful exits (code 0): %s", strings.Join(parts, ", "))
	if err := r.committedMatchesInserted(); err != nil {
		r.errorf("%v", err)
	} else {
		r.note("after the stop, committed offsets = highest inserted offset + 1 on every partition")
	}
	r.pause(r.e.tm.termDown)
	r.restart("stream", "stream")
	r.restart("ingest", "ingest")
	r.recovered()
}

// selected filters scenarios by IOC_FAULTS_ONLY (comma-separated names).
func selected() []scenario {
	only := os.Getenv("IOC_FAULTS_ONLY")
	if only == "" {
		return scenarios
	}
	var out []scenario
	for _, sc := range scenarios {
		for _, n := range strings.Split(only, ",") {
			if strings.TrimSpace(n) == sc.name {
				out = append(out, sc)
			}
		}
	}
	return out
}

// Every acknowledged reading is in <db>.sensor_readings exactly once after
// each fault and its recovery.
func TestFaults(t *testing.T) {
	e := need(t)
	for _, sc := range selected() {
		t.Run(sc.name, func(t *testing.T) {
			res := runScenario(t, e, sc)
			for _, msg := range res.Errors {
				t.Error(msg)
			}
		})
	}
}

// The checks can fail: with offsets committed before the insert, killing
// stream loses readings, and the suite must say so.
func TestUnsafeModeIsCaught(t *testing.T) {
	e := need(t)
	res := runScenario(t, e, unsafeScenario)
	for _, msg := range res.Errors {
		t.Error(msg)
	}
	if res.Lost == 0 && res.DupVisible == 0 {
		t.Errorf("with stream.unsafe_commit_before_insert the suite saw no loss and no duplicate: its checks cannot fail")
	} else {
		t.Logf("as expected, the unsafe setting is caught: %d lost, %d duplicates visible", res.Lost, res.DupVisible)
	}
}

func runScenario(t *testing.T, e *env, sc scenario) result {
	r, err := newRun(t, e, sc)
	if err != nil {
		t.Fatal(err)
	}
	var res result
	done := false
	defer func() {
		if !done { // t.Fatal inside: still report the row
			res = result{Name: sc.name, Title: sc.title, Unsafe: sc.unsafe, Recover: -1, Aborted: true}
			r.mu.Lock()
			res.Errors = append(res.Errors, r.errs...)
			r.mu.Unlock()
			results = append(results, res)
		}
	}()
	res = r.execute()
	done = true
	results = append(results, res)
	return res
}
