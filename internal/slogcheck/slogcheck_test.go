package slogcheck

import (
	"testing"
)

// fakeTB records Errorf.
type fakeTB struct {
	testing.TB
	errs []string
}

func (f *fakeTB) Errorf(format string, args ...any) { f.errs = append(f.errs, format) }

func TestRepeatedKeyFails(t *testing.T) {
	for name, tc := range map[string]struct {
		log  func(f *fakeTB)
		fail bool
	}{
		"component twice": {func(f *fakeTB) {
			l, _ := Logger(f)
			l.With("component", "stream").With("component", "monitor").Info("x")
		}, true},
		"in the record": {func(f *fakeTB) {
			l, _ := Logger(f)
			l.With("err", 1).Info("x", "err", 2)
		}, true},
		"sub key": {func(f *fakeTB) {
			l, _ := Logger(f)
			l.With("component", "stream").With("sub", "monitor").Info("x", "n", 1)
		}, false},
		"groups apart": {func(f *fakeTB) {
			l, _ := Logger(f)
			l.With("a", 1).WithGroup("g").With("a", 2).Info("x", "a", 3)
		}, true}, // g.a twice
		"group attr": {func(f *fakeTB) {
			l, _ := Logger(f)
			l.With("a", 1).WithGroup("g").Info("x", "a", 3)
		}, false},
	} {
		f := &fakeTB{}
		tc.log(f)
		if got := len(f.errs) > 0; got != tc.fail {
			t.Errorf("%s: failed %v, want %v", name, got, tc.fail)
		}
	}
}

func TestLines(t *testing.T) {
	l, lines := Logger(t)
	l.With("component", "c").Info("hello", "n", 1)
	if got := lines.All(); len(got) != 1 || got[0] != "INFO hello component=c n=1" {
		t.Errorf("lines %q", got)
	}
}
