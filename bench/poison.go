package bench

import (
	"context"
	"embed"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// PoisonClass is one kind of bad input a poison window publishes: a class
// of the bad-input catalogue (ingest/payload.BadInputs) whose whole
// message must become one dead letter with Reason.
type PoisonClass struct {
	Class   string
	Payload []byte
	Reason  string
}

// PoisonClasses are the catalogue's classes that ingest dead-letters, for
// a publishing clock now (the time classes are relative to it: "an hour
// ahead" stays in the future for the length of a window). Accepted ones
// (with or without a flag) would add rows, not dead letters, and are left
// out.
func PoisonClasses(now time.Time) []PoisonClass {
	var out []PoisonClass
	for _, b := range payload.BadInputs(now) {
		if b.Reason != "" {
			out = append(out, PoisonClass{Class: b.Class, Payload: []byte(b.Payload), Reason: string(b.Reason)})
		}
	}
	return out
}

// poisonEvery is the message interval of a poison fraction: every n-th
// message of a connection is poison (0: none).
func poisonEvery(fraction float64) int64 {
	if fraction <= 0 || math.IsNaN(fraction) {
		return 0
	}
	return max(1, int64(math.Round(1/fraction)))
}

// poisonSlot says whether message k of connection idx (of nconn) is
// poison, and which of nclasses it carries. The connections send in turn,
// so message k of connection idx is message k·nconn+idx of the fleet:
// poison is chosen on that sequence, so that the share holds however few
// messages each connection sends in a window (one every 1,000 of a
// connection would never come in a minute at 10 messages a second). The
// classes go round, so that a short window still sends each class about
// equally often. A poison message replaces a probe that falls on it.
func poisonSlot(k, every int64, idx, nconn, nclasses int) (class int, ok bool) {
	if every <= 0 || nclasses <= 0 {
		return 0, false
	}
	seq := k*int64(nconn) + int64(idx)
	if seq%every != every-1 {
		return 0, false
	}
	return int((seq / every) % int64(nclasses)), true
}

// poisonDevice is the device a connection sends its poison messages as:
// a device of its own, so that the dead letters of a window are found by
// topic, and few of them (one per connection), so that the cap on
// unregistered devices (ingest.max_unregistered_devices) is not what
// rejects them.
func poisonDevice(idx int) string { return fmt.Sprintf("poison%03d", idx) }

// poisonPlan is what Load.SetPoison arms: the fraction and the classes,
// with counters per class.
type poisonPlan struct {
	every   int64
	classes []PoisonClass
	sent    []atomic.Int64
	acked   []atomic.Int64
}

// SetPoison makes the given share of the messages of the following
// windows bad input from classes (nil or fraction 0 turns it off). Poison
// messages replace ordinary ones, carry no expected reading (they are not
// in AckedReadings) and are counted in PoisonCounts.
func (l *Load) SetPoison(fraction float64, classes []PoisonClass) {
	every := poisonEvery(fraction)
	if every == 0 || len(classes) == 0 {
		l.poison.Store(nil)
		return
	}
	l.poison.Store(&poisonPlan{every: every, classes: classes,
		sent: make([]atomic.Int64, len(classes)), acked: make([]atomic.Int64, len(classes))})
}

// PoisonCount is what was published of one class.
type PoisonCount struct {
	Class  string `json:"class"`
	Reason string `json:"reason"`
	Sent   int64  `json:"sent"`
	Acked  int64  `json:"acked"`
}

// PoisonCounts lists the poison published since SetPoison, per class.
func (l *Load) PoisonCounts() []PoisonCount {
	p := l.poison.Load()
	if p == nil {
		return nil
	}
	out := make([]PoisonCount, len(p.classes))
	for i, c := range p.classes {
		out[i] = PoisonCount{Class: c.Class, Reason: c.Reason, Sent: p.sent[i].Load(), Acked: p.acked[i].Load()}
	}
	return out
}

// PoisonStats compares the poison a window published with the dead letters
// ClickHouse holds for it.
type PoisonStats struct {
	Fraction float64       `json:"fraction"`
	Classes  int           `json:"classes"`
	Sent     int64         `json:"sent"`
	Acked    int64         `json:"acked"`
	Dead     int64         `json:"dead_lettered"`
	ByReason []ReasonCount `json:"by_reason"`
	// Mismatch lists the reasons whose dead letters differ from what was
	// acknowledged; empty when every poison message became exactly one
	// dead letter with its class's reason.
	Mismatch string `json:"mismatch,omitempty"`
}

// ReasonCount is the poison acknowledged with an expected reason and the
// dead letters stored with it.
type ReasonCount struct {
	Reason   string `json:"reason"`
	Expected int64  `json:"expected"`
	Got      int64  `json:"got"`
}

// comparePoison sums the acknowledged poison by expected reason and
// matches it against the dead letters found per reason.
func comparePoison(counts []PoisonCount, got map[string]int64) (rc []ReasonCount, mismatch string) {
	want := map[string]int64{}
	for _, c := range counts {
		want[c.Reason] += c.Acked
	}
	reasons := make([]string, 0, len(want)+len(got))
	for r := range want {
		reasons = append(reasons, r)
	}
	for r := range got {
		if _, ok := want[r]; !ok {
			reasons = append(reasons, r)
		}
	}
	sort.Strings(reasons)
	var bad []string
	for _, r := range reasons {
		if want[r] == 0 && got[r] == 0 {
			continue
		}
		rc = append(rc, ReasonCount{Reason: r, Expected: want[r], Got: got[r]})
		if want[r] != got[r] {
			bad = append(bad, fmt.Sprintf("%s: %d expected, %d stored", r, want[r], got[r]))
		}
	}
	return rc, strings.Join(bad, "; ")
}

// PoisonResult is the poison comparison: the same fixed rate offered
// twice, clean and with poison.
type PoisonResult struct {
	Rate     float64     `json:"offered_per_s"`
	Window   string      `json:"window"`
	Clean    Step        `json:"clean"`
	Poisoned Step        `json:"poisoned"`
	Poison   PoisonStats `json:"poison"`
	// AckedRatio is the acknowledged readings per second with poison over
	// those without; the poison replaces Fraction of the messages, so
	// NormRatio divides that share out. CPURatio compares the roles' CPU
	// per (good) reading.
	AckedRatio float64 `json:"acked_ratio"`
	NormRatio  float64 `json:"normalised_ratio"`
	CPURatio   float64 `json:"role_cpu_ratio"`
	Pass       bool    `json:"pass"`
	Why        string  `json:"why,omitempty"`
}

// poisonTolerance is the largest loss of throughput poison may cost
// (issue 5: "with 0.1 % poison messages its throughput stays within 10 %").
const poisonTolerance = 0.10

// judgePoison fills the ratios and the verdict: both windows sustained,
// the throughput with poison within the tolerance of the clean one, and
// every poison message dead-lettered once with its reason.
func judgePoison(r *PoisonResult) {
	var why []string
	if r.Clean.Acked > 0 {
		r.AckedRatio = round3(r.Poisoned.Acked / r.Clean.Acked)
		r.NormRatio = round3(r.Poisoned.Acked / (1 - r.Poison.Fraction) / r.Clean.Acked)
	}
	if r.Clean.RoleCPUus > 0 {
		r.CPURatio = round3(r.Poisoned.RoleCPUus / r.Clean.RoleCPUus)
	}
	if !r.Clean.Pass {
		why = append(why, "clean window not sustained: "+r.Clean.Why)
	}
	if !r.Poisoned.Pass {
		why = append(why, "poisoned window not sustained: "+r.Poisoned.Why)
	}
	if r.Clean.Acked > 0 && r.NormRatio < 1-poisonTolerance {
		why = append(why, fmt.Sprintf("throughput with poison %.1f %% of the clean one (at least %.0f %% required)",
			r.NormRatio*100, (1-poisonTolerance)*100))
	}
	if r.Poison.Sent == 0 {
		why = append(why, "no poison was sent")
	}
	if r.Poison.Acked != r.Poison.Sent {
		why = append(why, fmt.Sprintf("%d of %d poison messages acknowledged", r.Poison.Acked, r.Poison.Sent))
	}
	if r.Poison.Dead != r.Poison.Acked {
		why = append(why, fmt.Sprintf("%d poison messages acknowledged, %d dead letters stored", r.Poison.Acked, r.Poison.Dead))
	}
	if r.Poison.Mismatch != "" {
		why = append(why, "dead-letter reasons differ ("+r.Poison.Mismatch+")")
	}
	r.Pass, r.Why = len(why) == 0, strings.Join(why, "; ")
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// Poison runs the comparison: a clean window at rate, then a window at the
// same rate where fraction of the messages are poison, and counts the
// poisoned window's dead letters in ClickHouse.
func (r *Runner) Poison(ctx context.Context, rate float64, window time.Duration, fraction float64) PoisonResult {
	res := PoisonResult{Rate: rate, Window: window.String()}
	r.Log.Info("poison: clean window", "offered", rate, "window", window)
	res.Clean = r.RunStep(ctx, "poison-clean", rate, window)
	classes := PoisonClasses(time.Now())
	r.Load.SetPoison(fraction, classes)
	defer r.Load.SetPoison(0, nil)
	r.Log.Info("poison: poisoned window", "offered", rate, "window", window, "fraction", fraction, "classes", len(classes))
	from := time.Now().Add(-time.Second).UnixMilli()
	ingestBefore, _ := r.Pipe.Scrape(ctx, "ingest")
	res.Poisoned = r.RunStep(ctx, "poison", rate, window)
	counts := r.Load.PoisonCounts()
	res.Poison = PoisonStats{Fraction: fraction, Classes: len(classes)}
	for _, c := range counts {
		res.Poison.Sent += c.Sent
		res.Poison.Acked += c.Acked
	}
	// The dead letters travel with the readings, which have drained; wait
	// up to a minute longer for the last of them all the same (on a loaded
	// machine the drain may also have given up early).
	var byReason map[string]int64
	testpoll.Poll(60*time.Second, 250*time.Millisecond, func() bool {
		var err error
		byReason, err = r.CH.PoisonDeadLetters(ctx, r.Pipe.MountPoint, from)
		var n int64
		for _, v := range byReason {
			n += v
		}
		res.Poison.Dead = n
		if err != nil {
			r.Log.Warn("counting the poison's dead letters", "err", err)
		}
		return n >= res.Poison.Acked || ctx.Err() != nil
	})
	res.Poison.ByReason, res.Poison.Mismatch = comparePoison(counts, byReason)
	if after, err := r.Pipe.Scrape(ctx, "ingest"); err == nil && ingestBefore != nil {
		n := after.Sum("ioc_ingest_dead_letters_total") - ingestBefore.Sum("ioc_ingest_dead_letters_total")
		r.Log.Info("poison: ingest's dead-letter counter", "increase", n)
	}
	judgePoison(&res)
	r.Log.Info("poison", "sent", res.Poison.Sent, "dead_lettered", res.Poison.Dead, "clean_acked_per_s", res.Clean.Acked,
		"poisoned_acked_per_s", res.Poisoned.Acked, "ratio", res.NormRatio, "pass", res.Pass, "why", res.Why)
	return res
}

//go:embed sql/*.sql
var sqlFS embed.FS

// PoisonDeadLetters counts, per reason, the dead letters of the poison
// devices under the run's mount point received since fromMs.
func (w *CHWatch) PoisonDeadLetters(ctx context.Context, mount string, fromMs int64) (map[string]int64, error) {
	set, err := sqltmpl.Parse(sqlFS, nil, nil, "sql/poison_dead_letters.sql")
	if err != nil {
		return nil, err
	}
	q, err := set.Render("poison_dead_letters.sql", map[string]any{"DB": w.DB, "Prefix": mount + "sensors/", "FromMs": fromMs})
	if err != nil {
		return nil, err
	}
	rows, err := w.Conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("counting dead letters in %s.dead_letters: %w", w.DB, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var reason string
		var n uint64
		if err := rows.Scan(&reason, &n); err != nil {
			return nil, err
		}
		out[reason] = int64(n)
	}
	return out, rows.Err()
}

// WriteText prints the comparison.
func (r *PoisonResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nPoison messages (%.2f %% of the messages, %d bad-input classes), %.0f readings/s for %s each:\n",
		r.Poison.Fraction*100, r.Poison.Classes, r.Rate, r.Window)
	fmt.Fprintf(w, "  %-9s %-9s %10s %11s %13s %13s\n", "window", "sustained", "acked/s", "backlog_max", "role_cpu_us", "all_cpu_us")
	for _, s := range []struct {
		name string
		st   *Step
	}{{"clean", &r.Clean}, {"poisoned", &r.Poisoned}} {
		fmt.Fprintf(w, "  %-9s %-9s %10.1f %10.2fs %13.2f %13.2f\n", s.name, yesNo(s.st.Pass), s.st.Acked, s.st.BacklogMaxS,
			s.st.RoleCPUus, s.st.AllCPUus)
		if s.st.Why != "" {
			fmt.Fprintf(w, "    why: %s\n", s.st.Why)
		}
	}
	fmt.Fprintf(w, "  poison sent / acknowledged / dead-lettered: %d / %d / %d\n", r.Poison.Sent, r.Poison.Acked, r.Poison.Dead)
	for _, c := range r.Poison.ByReason {
		fmt.Fprintf(w, "    %-22s expected %6d  stored %6d\n", c.Reason, c.Expected, c.Got)
	}
	fmt.Fprintf(w, "  throughput ratio (poisoned/clean acked/s): %.3f, without the poison's share %.3f; role CPU per reading ratio %.3f\n",
		r.AckedRatio, r.NormRatio, r.CPURatio)
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL: " + r.Why
	}
	fmt.Fprintf(w, "  within %.0f %%: %s\n", poisonTolerance*100, verdict)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
