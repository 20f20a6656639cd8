package svcindex

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(*Config) {}, ""},
		{func(c *Config) { c.PaymentBasis = "money" }, "payment_basis"},
		{func(c *Config) { c.NoData = "skip" }, "no_data"},
		{func(c *Config) { c.Dislike = "all" }, "dislike"},
		{func(c *Config) { c.PostingDays = 91 }, "posting_days"},
		{func(c *Config) { c.PublishLeadDays = -1 }, "publish_lead_days"},
		{func(c *Config) { c.Thresholds = map[string]float64{"progress.late": 0.9} }, "not an indicator"},
		{func(c *Config) { c.Thresholds = map[string]float64{"online.full_online": 1.2} }, "outside (0, 1]"},
		{func(c *Config) { c.Thresholds = map[string]float64{"online.full_online": 0.8} }, ""},
	} {
		var cfg Config
		cfg.Defaults()
		c.mod(&cfg)
		err := cfg.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}

// The groups add up to 100 and each group's indicators to its points;
// every indicator is documented in docs/service-index.md.
func TestIndicatorsAddUp(t *testing.T) {
	doc, err := os.ReadFile("../../docs/service-index.md")
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, g := range Groups {
		sum := 0.0
		for _, d := range Indicators {
			if d.Group == g.Code {
				sum += d.Max
			}
		}
		if sum != g.Max {
			t.Errorf("group %s: indicators add up to %v, want %v", g.Code, sum, g.Max)
		}
		total += g.Max
	}
	if total != 100 {
		t.Errorf("groups add up to %v, want 100", total)
	}
	for _, d := range Indicators {
		if !strings.Contains(string(doc), "`"+d.Code+"`") {
			t.Errorf("docs/service-index.md does not document %s", d.Code)
		}
	}
}

func TestPointsAndPeriods(t *testing.T) {
	if p := Points(20, 393087.0/443565, 0); p < 17.72 || p > 17.73 {
		t.Errorf("linear: %v", p)
	}
	if p := Points(6, 0.95, 0.9); p != 6 {
		t.Errorf("threshold reached: %v", p)
	}
	if p := Points(6, 0.45, 0.9); p != 3 {
		t.Errorf("threshold half-way: %v", p)
	}
	for _, key := range []string{"2026-11", "2026-Q4", "2026-YTD-11"} {
		p, err := ParsePeriod(key)
		if err != nil || p.Key != key || !p.End.After(p.Start) {
			t.Errorf("%s: %+v %v", key, p, err)
		}
	}
	if p, _ := ParsePeriod("2026-Q4"); p.Start.Month() != time.October || p.End.Year() != 2027 {
		t.Errorf("Q4: %v – %v", p.Start, p.End)
	}
	for _, bad := range []string{"2026-13", "2026-Q5", "26-11", ""} {
		if _, err := ParsePeriod(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
