// Package testpoll waits in tests for something another process or
// goroutine brings about: it polls a condition until a deadline instead of
// sleeping a guessed time. It is imported by the tests of several packages
// (e2e, scaleout), so it is an ordinary package, not a _test file.
package testpoll

import (
	"testing"
	"time"
)

// Interval is how long Eventually waits between two looks.
const Interval = 100 * time.Millisecond

// Eventually calls cond every Interval until it reports true, and fails the
// test (t.Fatalf) if it has not within timeout. cond also returns a short
// description of what it saw; the last one is in the failure message, so a
// failing test says how far things got.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	if !Poll(timeout, Interval, func() bool {
		var ok bool
		ok, last = cond()
		return ok
	}) {
		t.Fatalf("%s: not true after %s (last: %s)", what, timeout, last)
	}
}

// Poll calls cond every `every` until it reports true (Poll returns true)
// or timeout has passed (false; cond is called once more at the end). It
// is for callers that handle the timeout themselves: a helper returning an
// error, a harness that records a failure and goes on, a measurement of
// how long recovery took (every is then the resolution).
func Poll(timeout, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(every, time.Until(deadline)+time.Millisecond))
	}
}
