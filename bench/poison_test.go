package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/ingest/payload"
)

func TestPoisonEvery(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want int64
	}{{0, 0}, {-1, 0}, {0.001, 1000}, {0.01, 100}, {0.003, 333}, {0.5, 2}, {1, 1}, {2, 1}} {
		if got := poisonEvery(c.f); got != c.want {
			t.Errorf("poisonEvery(%v) = %d, want %d", c.f, got, c.want)
		}
	}
}

// The share of poison is the fraction asked for, also when each
// connection sends fewer messages than the poison interval, and every
// class is sent about equally often.
func TestPoisonSlotShareAndSpread(t *testing.T) {
	for _, c := range []struct {
		nconn, perConn int
		fraction       float64
	}{
		{7, 20000, 0.001},
		{100, 600, 0.001}, // 5,000 readings/s in packs of 5 for 60 s: 10 messages/s per connection
		{4, 500, 0.01},
	} {
		const nclasses = 5
		every := poisonEvery(c.fraction)
		perClass := make([]int, nclasses)
		total := 0
		for idx := 0; idx < c.nconn; idx++ {
			for k := int64(0); k < int64(c.perConn); k++ {
				class, ok := poisonSlot(k, every, idx, c.nconn, nclasses)
				if !ok {
					continue
				}
				total++
				perClass[class]++
			}
		}
		if want := int(float64(c.nconn*c.perConn) * c.fraction); total != want {
			t.Errorf("%+v: %d poison messages of %d, want %d", c, total, c.nconn*c.perConn, want)
		}
		for cl, n := range perClass {
			if n < total/nclasses-1 || n > total/nclasses+1 {
				t.Errorf("%+v: class %d sent %d times of %d: not spread evenly %v", c, cl, n, total, perClass)
			}
		}
	}
	if _, ok := poisonSlot(999, 0, 0, 1, 5); ok {
		t.Error("poison without a fraction")
	}
	if _, ok := poisonSlot(999, 1000, 0, 1, 0); ok {
		t.Error("poison without classes")
	}
}

// Every poison class is one the catalogue dead-letters, and the payload
// is the catalogue's.
func TestPoisonClassesAreTheDeadLetteredBadInputs(t *testing.T) {
	now := time.Now()
	classes := PoisonClasses(now)
	want := 0
	byClass := map[string]payload.BadInput{}
	for _, b := range payload.BadInputs(now) {
		byClass[b.Class] = b
		if b.Reason != "" {
			want++
		}
	}
	if len(classes) != want || want < 20 {
		t.Fatalf("%d poison classes, want the %d dead-lettered ones of the catalogue", len(classes), want)
	}
	for _, c := range classes {
		b := byClass[c.Class]
		if c.Reason == "" || c.Reason != string(b.Reason) || string(c.Payload) != b.Payload {
			t.Errorf("class %q: reason %q payload %.40q, catalogue %q %.40q", c.Class, c.Reason, c.Payload, b.Reason, b.Payload)
		}
	}
}

func TestComparePoison(t *testing.T) {
	counts := []PoisonCount{
		{Class: "a", Reason: "not_json", Sent: 5, Acked: 5},
		{Class: "b", Reason: "not_json", Sent: 3, Acked: 3},
		{Class: "c", Reason: "bad_time", Sent: 2, Acked: 2},
		{Class: "d", Reason: "bad_unit", Sent: 0, Acked: 0},
	}
	rc, mismatch := comparePoison(counts, map[string]int64{"not_json": 8, "bad_time": 2})
	if mismatch != "" || len(rc) != 2 || rc[0] != (ReasonCount{"bad_time", 2, 2}) || rc[1] != (ReasonCount{"not_json", 8, 8}) {
		t.Errorf("matching counts: %+v, %q", rc, mismatch)
	}
	rc, mismatch = comparePoison(counts, map[string]int64{"not_json": 7, "bad_time": 2, "unregistered_limit": 1})
	if !strings.Contains(mismatch, "not_json: 8 expected, 7 stored") || !strings.Contains(mismatch, "unregistered_limit: 0 expected, 1 stored") || len(rc) != 3 {
		t.Errorf("differing counts: %+v, %q", rc, mismatch)
	}
}

func TestJudgePoison(t *testing.T) {
	ok := func(acked, cpu float64) Step { return Step{Pass: true, Acked: acked, RoleCPUus: cpu} }
	base := func() PoisonResult {
		return PoisonResult{Clean: ok(5000, 20), Poisoned: ok(4995, 21),
			Poison: PoisonStats{Fraction: 0.001, Sent: 30, Acked: 30, Dead: 30}}
	}
	r := base()
	judgePoison(&r)
	if !r.Pass || r.AckedRatio != 0.999 || r.NormRatio != 1 || r.CPURatio != 1.05 {
		t.Errorf("healthy comparison: %+v", r)
	}
	for name, spoil := range map[string]func(*PoisonResult){
		"throughput 85 %":        func(r *PoisonResult) { r.Poisoned.Acked = 4250 },
		"poisoned not sustained": func(r *PoisonResult) { r.Poisoned.Pass, r.Poisoned.Why = false, "backlog grew" },
		"clean not sustained":    func(r *PoisonResult) { r.Clean.Pass = false },
		"dead letter missing":    func(r *PoisonResult) { r.Poison.Dead = 29 },
		"poison unacknowledged":  func(r *PoisonResult) { r.Poison.Acked = 29; r.Poison.Dead = 29 },
		"nothing sent":           func(r *PoisonResult) { r.Poison = PoisonStats{Fraction: 0.001} },
		"wrong reason":           func(r *PoisonResult) { r.Poison.Mismatch = "bad_time: 1 expected, 0 stored" },
	} {
		r := base()
		spoil(&r)
		judgePoison(&r)
		if r.Pass || r.Why == "" {
			t.Errorf("%s: passed (%+v)", name, r)
		}
	}
	r = base()
	r.Poisoned.Acked = 4550 // 91 %: within 10 %
	judgePoison(&r)
	if !r.Pass {
		t.Errorf("91 %% judged outside 10 %%: %s", r.Why)
	}
	var buf bytes.Buffer
	r.WriteText(&buf)
	if !strings.Contains(buf.String(), "poison sent / acknowledged / dead-lettered: 30 / 30 / 30") {
		t.Errorf("report:\n%s", buf.String())
	}
}
