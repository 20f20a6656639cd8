package svcindex

import (
	"fmt"
	"sort"
	"strings"
)

// Config holds the choices where the public sources of the formula are
// ambiguous or disagree (docs/service-index.md, "Settings"), each with its
// documented default. Section feeds.kpi.index of the stream config.
type Config struct {
	// ProgressPending: "count" (default) adds the dossiers still open and
	// within their deadline at the end of the period to the numerator (and
	// every open dossier to the denominator) of progress.on_time, as the
	// portal's "đúng hạn, trước hạn, đang xử lý trong hạn"; "ignore" scores
	// the dossiers resolved in the period only.
	ProgressPending string `yaml:"progress_pending"`
	// PaymentBasis: "procedure" (default) counts in the denominator of
	// payment.paid_online the dossiers of fee-bearing procedures; "fee" the
	// dossiers that reported a fee above 0.
	PaymentBasis string `yaml:"payment_basis"`
	// Digitised: "all_inputs" (default) counts a dossier as digitised when
	// every component document was; "any_input" when one was.
	Digitised string `yaml:"digitised"`
	// Unrated: "satisfied" (default) counts a resolved dossier the
	// applicant did not rate as not dissatisfied (766's "total minus
	// dissatisfied"); "exclude" scores rated dossiers only.
	Unrated string `yaml:"unrated"`
	// DossierSatisfaction: what counts against satisfaction.dossiers:
	// "late_or_dissatisfied" (default: the portal's "100 % − (late + with
	// a complaint or a dislike)", the published Đắk Lắk figures) or
	// "dissatisfied" (the applicant's rating only).
	DossierSatisfaction string `yaml:"dossier_satisfaction"`
	// Dislike: a feedback counts as disliked with "any" dislike (default)
	// or with more dislikes than likes ("majority").
	Dislike string `yaml:"dislike"`
	// NoData: how an indicator with nothing to count (a zero denominator)
	// scores: "full" (default: its full points, as the portal scores a
	// unit with no feedback or no certified copy), "exclude" (no points,
	// and left out of Max) or "zero" (no points, kept in Max).
	NoData string `yaml:"no_data"`
	// Rounding: "indicator" (default) rounds each indicator's points half
	// up to 0.01, and a group is the sum of those, as the portal shows
	// them (its group totals are sums of rounded parts); "none" keeps
	// every digit.
	Rounding string `yaml:"rounding"`
	// PublishLeadDays: a procedure is published on time when its
	// publication decision is dated at least this many days before its
	// legal basis takes force (default 0: on or before that day).
	PublishLeadDays int `yaml:"publish_lead_days"`
	// PostingDays: a procedure is posted on time when posted at most this
	// many days after its publication decision (default 5).
	PostingDays int `yaml:"posting_days"`
	// Thresholds override the full-points threshold of indicators (code →
	// rate in (0,1]); an indicator listed here is scored by the threshold
	// rule, one absent by its default rule. 1 makes a threshold indicator
	// linear.
	Thresholds map[string]float64 `yaml:"thresholds"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.ProgressPending, "count")
	def(&c.PaymentBasis, "procedure")
	def(&c.Digitised, "all_inputs")
	def(&c.Unrated, "satisfied")
	def(&c.Dislike, "any")
	def(&c.DossierSatisfaction, "late_or_dissatisfied")
	def(&c.NoData, "full")
	def(&c.Rounding, "indicator")
	if c.PostingDays == 0 {
		c.PostingDays = 5
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	for _, s := range []struct {
		name, v string
		allowed []string
	}{
		{"progress_pending", c.ProgressPending, []string{"count", "ignore"}},
		{"payment_basis", c.PaymentBasis, []string{"procedure", "fee"}},
		{"digitised", c.Digitised, []string{"all_inputs", "any_input"}},
		{"unrated", c.Unrated, []string{"satisfied", "exclude"}},
		{"dislike", c.Dislike, []string{"any", "majority"}},
		{"dossier_satisfaction", c.DossierSatisfaction, []string{"late_or_dissatisfied", "dissatisfied"}},
		{"no_data", c.NoData, []string{"full", "exclude", "zero"}},
		{"rounding", c.Rounding, []string{"indicator", "none"}},
	} {
		ok := false
		for _, a := range s.allowed {
			ok = ok || a == s.v
		}
		if !ok {
			return fmt.Errorf("feeds.kpi.index.%s: %q is not one of %s", s.name, s.v, strings.Join(s.allowed, ", "))
		}
	}
	if c.PublishLeadDays < 0 || c.PublishLeadDays > 90 {
		return fmt.Errorf("feeds.kpi.index.publish_lead_days: %d is outside 0..90", c.PublishLeadDays)
	}
	if c.PostingDays < 0 || c.PostingDays > 90 {
		return fmt.Errorf("feeds.kpi.index.posting_days: %d is outside 0..90", c.PostingDays)
	}
	codes := map[string]bool{}
	for _, d := range Indicators {
		codes[d.Code] = true
	}
	var names []string
	for k := range c.Thresholds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !codes[k] {
			return fmt.Errorf("feeds.kpi.index.thresholds: %q is not an indicator (see docs/service-index.md)", k)
		}
		if v := c.Thresholds[k]; !(v > 0 && v <= 1) {
			return fmt.Errorf("feeds.kpi.index.thresholds.%s: %v is outside (0, 1]", k, v)
		}
	}
	return nil
}
