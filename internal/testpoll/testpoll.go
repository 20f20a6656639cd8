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
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(Interval)
	}
	t.Fatalf("%s: not true after %s (last: %s)", what, timeout, last)
}
