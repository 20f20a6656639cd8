package monitor

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/slogcheck"
)

// The monitor runs inside stream, whose logger carries component=stream:
// its lines add a sub key, not a second component.
func TestLogKeysAreNotRepeated(t *testing.T) {
	log, lines := slogcheck.Logger(t)
	m := New(testStatusConfig(), AlertsConfig{}, kafkaconn.Config{}, chconn.Config{}, testReg(t),
		log.With("component", "stream"), prometheus.NewRegistry())
	m.log.Info("hello", "n", 1)
	if got := lines.All(); len(got) != 1 || got[0] != "INFO hello component=stream sub=monitor n=1" {
		t.Errorf("logged %q", got)
	}
}
