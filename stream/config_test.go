package stream

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(c *Config)
		want string // "" = valid
	}{
		"defaults":                           {func(c *Config) {}, ""},
		"session below broker min":           {func(c *Config) { c.SessionTimeout = 3 * time.Second }, "stream.session_timeout"},
		"session too long":                   {func(c *Config) { c.SessionTimeout = time.Hour }, "stream.session_timeout"},
		"rebalance too short":                {func(c *Config) { c.RebalanceTimeout = 100 * time.Millisecond }, "stream.rebalance_timeout"},
		"unsafe is explicit only":            {func(c *Config) { c.UnsafeCommitBeforeInsert = true }, ""},
		"settled before an insert ends":      {func(c *Config) { c.SettleAfter = 30 * time.Second }, "stream.settle_after"},
		"settled after insert and rebalance": {func(c *Config) { c.SettleAfter = 75 * time.Second }, ""},
		"a longer rebalance needs longer": {func(c *Config) { c.SettleAfter, c.RebalanceTimeout = 75*time.Second, 20*time.Second },
			"stream.settle_after"},
	} {
		c := Config{}
		tc.edit(&c)
		c.Defaults()
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", name, err, tc.want)
		}
	}
	var c Config
	c.Defaults()
	if c.SettleAfter != 5*time.Minute {
		t.Errorf("defaults: settle_after %s, want 5m", c.SettleAfter)
	}
	if c.SessionTimeout != 10*time.Second || c.RebalanceTimeout != 10*time.Second || c.UnsafeCommitBeforeInsert {
		t.Errorf("defaults: session %s, rebalance %s, unsafe %v; want 10s, 10s, false", c.SessionTimeout, c.RebalanceTimeout, c.UnsafeCommitBeforeInsert)
	}
}
