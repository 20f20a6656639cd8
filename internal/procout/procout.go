// Package procout collects the output of a process a test started, while
// the test reads it. exec.Cmd copies a process's pipe into Stdout or Stderr
// from a goroutine of its own until the process exits, so a bytes.Buffer
// read meanwhile (to show why a poll failed, or to look for a log line) is
// a data race (go test -race); Buffer locks.
package procout

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer for exec.Cmd's Stdout and Stderr that can be read
// while the process writes. The zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last n bytes written so far (all of them if fewer).
func (b *Buffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
