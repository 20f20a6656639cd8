// Package slogcheck gives tests a logger that fails the test when a log
// line carries the same attribute key twice (a sub-component that adds
// "component" again instead of its own "sub" key).
package slogcheck

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logger returns a logger whose every record is checked: a key seen twice
// in a line (its own attributes, those of With, group prefixes included)
// fails t. Lines returns what was logged.
func Logger(t testing.TB) (*slog.Logger, *Lines) {
	l := &Lines{}
	return slog.New(&handler{t: t, lines: l}), l
}

// Lines are the logged records as "LEVEL message key=value ..." strings.
type Lines struct {
	mu    sync.Mutex
	lines []string
}

// All returns a copy of the lines logged so far.
func (l *Lines) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

type handler struct {
	t      testing.TB
	lines  *Lines
	prefix string      // group prefix of the attributes to come ("g.")
	attrs  []slog.Attr // from WithAttrs, keys already prefixed
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), prefixed(h.prefix, as)...)
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	all := append([]slog.Attr(nil), h.attrs...)
	var own []slog.Attr
	r.Attrs(func(a slog.Attr) bool { own = append(own, a); return true })
	all = append(all, prefixed(h.prefix, own)...)
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	seen := map[string]bool{}
	for _, a := range all {
		if seen[a.Key] {
			h.t.Errorf("log line %q carries the key %q twice", r.Message, a.Key)
		}
		seen[a.Key] = true
		b.WriteString(" " + a.Key + "=" + a.Value.String())
	}
	h.lines.mu.Lock()
	h.lines.lines = append(h.lines.lines, b.String())
	h.lines.mu.Unlock()
	return nil
}

// prefixed flattens groups and puts prefix before every key.
func prefixed(prefix string, as []slog.Attr) []slog.Attr {
	var out []slog.Attr
	for _, a := range as {
		if a.Value.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "."
			}
			out = append(out, prefixed(p, a.Value.Group())...)
			continue
		}
		a.Key = prefix + a.Key
		out = append(out, a)
	}
	return out
}
