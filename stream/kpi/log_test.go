package kpi

import (
	"testing"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/slogcheck"
)

// The engine runs inside feeds, whose logger carries component=feeds: its
// lines add a sub key, not a second component.
func TestLogKeysAreNotRepeated(t *testing.T) {
	log, lines := slogcheck.Logger(t)
	e, err := NewEngine(Config{}, kafkaconn.Config{}, chconn.Config{Database: "ioc"}, log.With("component", "feeds"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.log.Info("hello", "n", 1)
	if got := lines.All(); len(got) != 1 || got[0] != "INFO hello component=feeds sub=kpi n=1" {
		t.Errorf("logged %q", got)
	}
}
