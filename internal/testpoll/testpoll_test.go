package testpoll

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// fakeTB records what Eventually does to a test. Its Fatalf ends the
// goroutine, as testing.T's does.
type fakeTB struct {
	testing.TB
	helper bool
	fatal  string
}

func (f *fakeTB) Helper() { f.helper = true }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls Eventually on a fakeTB in its own goroutine (Fatalf ends it)
// and reports whether Eventually returned normally.
func run(timeout time.Duration, cond func() (bool, string)) (f *fakeTB, returned bool) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(f, timeout, "the thing", cond)
		returned = true
	}()
	<-done
	return f, returned
}

func TestEventuallyHolds(t *testing.T) {
	calls := 0
	f, returned := run(10*time.Second, func() (bool, string) {
		calls++
		return calls == 3, fmt.Sprintf("call %d", calls)
	})
	if !returned || f.fatal != "" {
		t.Fatalf("Eventually failed a condition that became true: returned %v, Fatalf %q", returned, f.fatal)
	}
	if calls != 3 {
		t.Errorf("cond called %d times, want 3 (stop at the first true)", calls)
	}
	if !f.helper {
		t.Error("Eventually did not call t.Helper: failures would point into testpoll")
	}
}

func TestEventuallyFailsWithLastState(t *testing.T) {
	calls := 0
	start := time.Now()
	f, returned := run(3*Interval, func() (bool, string) {
		calls++
		return false, fmt.Sprintf("seen %d", calls)
	})
	if returned {
		t.Fatal("Eventually returned normally for a condition that never held")
	}
	if took := time.Since(start); took < 3*Interval {
		t.Errorf("gave up after %s, before the timeout %s", took, 3*Interval)
	}
	want := fmt.Sprintf("the thing: not true after %s (last: seen %d)", 3*Interval, calls)
	if f.fatal != want {
		t.Errorf("Fatalf message %q, want %q", f.fatal, want)
	}
	if calls < 2 {
		t.Errorf("cond called %d times; want several looks before giving up", calls)
	}
}

func TestPoll(t *testing.T) {
	calls := 0
	if !Poll(10*time.Second, time.Millisecond, func() bool { calls++; return calls == 3 }) || calls != 3 {
		t.Errorf("Poll of a condition true at the third look: calls %d", calls)
	}
	calls = 0
	start := time.Now()
	if Poll(50*time.Millisecond, 10*time.Millisecond, func() bool { calls++; return false }) {
		t.Error("Poll reported true for a condition that never held")
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("Poll gave up after %s, before its timeout", took)
	}
	if calls < 3 {
		t.Errorf("cond called %d times in 50 ms at 10 ms; want several", calls)
	}
}
