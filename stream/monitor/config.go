// Package monitor is the part of the stream role that watches the city
// rather than storing it: device and partner-feed status from the last
// reading against each device's expected interval, the hourly VN_AQI of
// every air-quality station, and the alert rules with their lifecycle
// (open → acknowledged → resolved, escalation when nobody acknowledges),
// including those of the administrative feeds: a dossier about to be late,
// a reform-plan task overdue (admin_alerts.go; it also follows the dossier
// and task topics).
//
// It follows the readings topic without a consumer group, so it sees every
// device whatever the partition assignment of the stream instances, and
// publishes what it derives to Kafka (ioc.device.status.v1,
// ioc.alert.events.v1, derived vn_aqi readings), from where the stream's
// writer stores it in ClickHouse and the dashboard shows it. Every derived
// record has a deterministic id, so two instances deriving the same change
// (or one instance after a restart) produce one row and one wall entry.
package monitor

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/vnaqi"
)

// StatusConfig says when a device is late and when it is offline, in
// multiples of its expected reporting interval (registry interval_s).
type StatusConfig struct {
	// Enabled runs the monitor (status, VN_AQI, alerts) in this stream
	// instance; default true.
	Enabled *bool `yaml:"enabled"`
	// StaleAfter: a device with no reading for this many intervals is
	// stale (late).
	StaleAfter float64 `yaml:"stale_after"`
	// OfflineAfter: … and offline after this many, and never before
	// MinOffline.
	OfflineAfter float64       `yaml:"offline_after"`
	MinOffline   time.Duration `yaml:"min_offline"`
	// FeedSilentAfter: a partner feed is silent when none of its devices is
	// online and nothing at all arrived from the partner for this long.
	FeedSilentAfter time.Duration `yaml:"feed_silent_after"`
	// Tick is how often time-driven changes are evaluated.
	Tick time.Duration `yaml:"tick"`
	// Replay is how many records per partition before the end the monitor
	// re-reads at start (readings not yet in ClickHouse).
	Replay int `yaml:"replay"`
	// SeedWindow is how far back the last reading of each device is looked
	// up in ClickHouse at start.
	SeedWindow time.Duration `yaml:"seed_window"`
	// AQIEvery is the shortest time between two published VN_AQI values of
	// one station (data time).
	AQIEvery time.Duration `yaml:"aqi_every"`
	// MaxStations bounds the stations whose VN_AQI is computed.
	MaxStations int `yaml:"max_stations"`
}

// Defaults fills unset fields.
func (c *StatusConfig) Defaults() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 2
	}
	if c.OfflineAfter == 0 {
		c.OfflineAfter = 5
	}
	if c.MinOffline == 0 {
		c.MinOffline = 2 * time.Minute
	}
	if c.FeedSilentAfter == 0 {
		c.FeedSilentAfter = 3 * time.Minute
	}
	if c.Tick == 0 {
		c.Tick = time.Second
	}
	if c.Replay == 0 {
		c.Replay = 5000
	}
	if c.SeedWindow == 0 {
		c.SeedWindow = 7 * 24 * time.Hour
	}
	if c.AQIEvery == 0 {
		c.AQIEvery = time.Minute
	}
	if c.MaxStations == 0 {
		c.MaxStations = 5000
	}
}

// Validate reports settings that cannot work.
func (c *StatusConfig) Validate() error {
	switch {
	case c.StaleAfter < 1:
		return fmt.Errorf("stream.status.stale_after: %v intervals is below 1: every device would be late", c.StaleAfter)
	case c.OfflineAfter <= c.StaleAfter:
		return fmt.Errorf("stream.status.offline_after (%v) must be more intervals than stale_after (%v)", c.OfflineAfter, c.StaleAfter)
	case c.MinOffline < 0 || c.FeedSilentAfter < time.Second:
		return errors.New("stream.status.min_offline must not be negative and feed_silent_after at least 1s")
	case c.Tick < 10*time.Millisecond || c.Tick > time.Minute:
		return fmt.Errorf("stream.status.tick: %s is outside 10ms..1m", c.Tick)
	case c.Replay < 0 || c.MaxStations < 1:
		return errors.New("stream.status.replay must not be negative and max_stations must be positive")
	case c.AQIEvery < time.Second:
		return fmt.Errorf("stream.status.aqi_every: %s is below 1s", c.AQIEvery)
	}
	return nil
}

// Rule kinds.
const (
	KindAQI       = "aqi"       // VN_AQI category at or above min_category for `for`
	KindThreshold = "threshold" // a metric above (or below: direction) a stage for `for`
	// KindRate: a metric's change within `window` (newest reading minus the
	// oldest one inside the window) above a stage (a rise), or below one
	// with direction below (a fall, stages negative).
	KindRate          = "rate"
	KindDeviceOffline = "device_offline" // a registered device offline (not when its whole feed is silent)
	KindFeedSilent    = "feed_silent"    // a partner feed silent
	// KindPipelineStalled: every partner feed silent at once. Readings
	// stopped reaching the monitor from everywhere: intake (broker, ingest,
	// Kafka) is stalled rather than one partner down. The rule watches what
	// the monitor consumes, so it fires whatever hop stopped; ingest's own
	// view is /readyz and ioc_ingest_oldest_unacked_seconds.
	KindPipelineStalled = "pipeline_stalled"
	// Administrative kinds (admin_alerts.go): evaluated on the dossier and
	// task feeds against the wall clock.
	KindDossierDue  = "dossier_due"  // an open dossier due within `lead` (then late once due passes)
	KindTaskOverdue = "task_overdue" // a reform-plan task not done after its due date
)

// Stage is one level of a threshold or rate rule: beyond it (above, or
// below for a rule with direction below), the alert has the stage's name
// and severity.
type Stage struct {
	Name     string   `yaml:"name"`
	Above    float64  `yaml:"above"`
	Below    *float64 `yaml:"below"`
	Severity string   `yaml:"severity"`
}

// Directions of threshold and rate rules.
const (
	DirectionAbove = "above"
	DirectionBelow = "below"
)

// Rule is one alert rule.
type Rule struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Label is what the wall shows (Vietnamese); defaults per kind.
	Label string `yaml:"label"`
	// Metrics (threshold): the metric names the rule watches, as sensors
	// send them (e.g. level and water_level).
	Metrics []string `yaml:"metrics"`
	// DeviceTypes (threshold, aqi, device_offline): only devices of these
	// registry types; empty means any.
	DeviceTypes []string `yaml:"device_types"`
	// Stages (threshold, rate): rising for direction above, falling for
	// below. A device's own levels for the rule (registry alarms) replace
	// them for that device.
	Stages []Stage `yaml:"stages"`
	// PerDevice (threshold, rate): the rule has no stages of its own; only
	// devices with their own levels for it (the admin page, `ioc device
	// edit -levels`) alert.
	PerDevice bool `yaml:"per_device"`
	// Direction (threshold, rate): above (default) or below; stages of a
	// below rule set `below`, never `above`.
	Direction string `yaml:"direction"`
	// Window (rate): the span over which the change is measured.
	Window time.Duration `yaml:"window"`
	// MinCategory (aqi): good, moderate, poor, bad (unhealthy), very_bad,
	// hazardous.
	MinCategory string `yaml:"min_category"`
	// For is how long (data time) the condition must hold before the alert
	// opens.
	For time.Duration `yaml:"for"`
	// Severity of kinds without stages.
	Severity string `yaml:"severity"`
	// EscalateAfter overrides alerts.escalate_after for this rule.
	EscalateAfter time.Duration `yaml:"escalate_after"`
	// Enabled (default true): false keeps a rule in the file but off.
	Enabled *bool `yaml:"enabled"`
	// Lead (dossier_due): the alert opens this long before the dossier's
	// due time (hẹn trả); default 24h, like the dossiers.near_due tile.
	Lead time.Duration `yaml:"lead"`
	// LateSeverity (dossier_due): the severity once the due time has
	// passed with the dossier still open; default alert.
	LateSeverity string `yaml:"late_severity"`
	// Horizon (dossier_due, task_overdue): a dossier or task whose due
	// time is more than this long past raises no new alert (a backfill of
	// history is counted by the KPI tiles, not paged); default 30 days.
	Horizon time.Duration `yaml:"horizon"`

	minCat vnaqi.Category
}

// AlertsConfig is the alert rules and their lifecycle settings
// (stream.alerts).
type AlertsConfig struct {
	// EscalateAfter: an alert not acknowledged this long after it opened
	// (or last escalated) escalates one level, up to MaxLevel.
	EscalateAfter time.Duration `yaml:"escalate_after"`
	MaxLevel      int           `yaml:"max_level"`
	// Rules; when absent, DefaultRules.
	Rules []Rule `yaml:"rules"`
	// MaxAdminSubjects bounds the dossiers and tasks the administrative
	// rules keep in memory (each kind); beyond it new ones are ignored and
	// counted (ioc_monitor_admin_subjects_dropped_total).
	MaxAdminSubjects int `yaml:"max_admin_subjects"`
}

// DefaultRules are the rules of a city without a configuration: VN_AQI
// Xấu (unhealthy, 151+) or worse for 10 minutes; the Nậm La stream above
// its warning stages (Báo động 1/2/3); heavy rain; a device offline; a
// partner feed silent; every feed silent at once (pipeline stalled); a
// dossier due within 24 hours (late once due) and a
// reform-plan task past its due date.
func DefaultRules() []Rule {
	return []Rule{
		{Name: "aqi_unhealthy", Kind: KindAQI, MinCategory: "bad", For: 10 * time.Minute, Severity: event.SeverityAlert},
		{Name: "water_level", Kind: KindThreshold, Metrics: []string{"level", "water_level"}, DeviceTypes: []string{"water_level"},
			Stages: []Stage{
				{Name: "Báo động 1", Above: 1.5, Severity: event.SeverityWarning},
				{Name: "Báo động 2", Above: 2.0, Severity: event.SeverityAlert},
				{Name: "Báo động 3", Above: 2.5, Severity: event.SeverityCritical},
			}},
		{Name: "rain_intensity", Kind: KindThreshold, Metrics: []string{"rain", "rainfall"}, For: 5 * time.Minute,
			Stages: []Stage{
				{Name: "Mưa to", Above: 16, Severity: event.SeverityWarning},
				{Name: "Mưa rất to", Above: 50, Severity: event.SeverityAlert},
			}},
		{Name: "device_offline", Kind: KindDeviceOffline, Severity: event.SeverityWarning},
		{Name: "feed_silent", Kind: KindFeedSilent, Severity: event.SeverityCritical},
		{Name: "pipeline_stalled", Kind: KindPipelineStalled, Severity: event.SeverityCritical},
		{Name: "dossier_due", Kind: KindDossierDue, Severity: event.SeverityWarning, LateSeverity: event.SeverityAlert},
		{Name: "task_overdue", Kind: KindTaskOverdue, Severity: event.SeverityWarning},
	}
}

// Defaults of the administrative rules.
const (
	DefaultLead          = 24 * time.Hour
	DefaultHorizon       = 30 * 24 * time.Hour
	DefaultAdminEscalate = time.Hour // back-office work: an hour to acknowledge, not ten minutes
)

// on reports whether a rule is enabled.
func (r *Rule) on() bool { return r.Enabled == nil || *r.Enabled }

func isAdminKind(kind string) bool { return kind == KindDossierDue || kind == KindTaskOverdue }

// Defaults fills unset fields.
func (c *AlertsConfig) Defaults() {
	if c.EscalateAfter == 0 {
		c.EscalateAfter = 10 * time.Minute
	}
	if c.MaxLevel == 0 {
		c.MaxLevel = 2
	}
	if c.Rules == nil {
		c.Rules = DefaultRules()
	}
	if c.MaxAdminSubjects == 0 {
		c.MaxAdminSubjects = 100_000
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Severity == "" {
			r.Severity = event.SeverityWarning
		}
		if isAdminKind(r.Kind) {
			if r.Horizon == 0 {
				r.Horizon = DefaultHorizon
			}
			if r.EscalateAfter == 0 {
				r.EscalateAfter = DefaultAdminEscalate
			}
		}
		if r.Kind == KindDossierDue {
			if r.Lead == 0 {
				r.Lead = DefaultLead
			}
			if r.LateSeverity == "" {
				r.LateSeverity = bump(r.Severity, 1)
			}
		}
		if (r.Kind == KindThreshold || r.Kind == KindRate) && r.Direction == "" {
			r.Direction = DirectionAbove
		}
		if r.Label == "" {
			r.Label = defaultLabel(r)
		}
	}
}

func defaultLabel(r *Rule) string {
	switch r.Kind {
	case KindAQI:
		return "Chất lượng không khí"
	case KindDeviceOffline:
		return "Thiết bị mất kết nối"
	case KindFeedSilent:
		return "Mất dữ liệu từ đối tác"
	case KindPipelineStalled:
		return "Đường truyền dữ liệu bị nghẽn"
	case KindDossierDue:
		return "Hồ sơ"
	case KindTaskOverdue:
		return "Nhiệm vụ CCHC quá hạn"
	}
	switch {
	case slices.Contains(r.Metrics, "level") || slices.Contains(r.Metrics, "water_level"):
		return "Mực nước"
	case slices.Contains(r.Metrics, "rain") || slices.Contains(r.Metrics, "rainfall"):
		return "Lượng mưa"
	}
	return r.Name
}

var severities = []string{event.SeverityWarning, event.SeverityAlert, event.SeverityCritical}

func severityRank(s string) int { return slices.Index(severities, s) }

// Validate reports rules that cannot work.
func (c *AlertsConfig) Validate() error {
	if c.EscalateAfter < time.Second {
		return fmt.Errorf("stream.alerts.escalate_after: %s is below 1s", c.EscalateAfter)
	}
	if c.MaxLevel < 0 || c.MaxLevel > 10 {
		return fmt.Errorf("stream.alerts.max_level: %d is outside 0..10", c.MaxLevel)
	}
	if c.MaxAdminSubjects < 1 || c.MaxAdminSubjects > 10_000_000 {
		return fmt.Errorf("stream.alerts.max_admin_subjects: %d is outside 1..10000000", c.MaxAdminSubjects)
	}
	seen := map[string]bool{}
	adminKinds := map[string]string{} // enabled administrative kind → its rule
	for i := range c.Rules {
		r := &c.Rules[i]
		where := fmt.Sprintf("stream.alerts.rules[%d] (%s)", i, r.Name)
		if r.Name == "" || len(r.Name) > 64 {
			return fmt.Errorf("stream.alerts.rules[%d]: name is required (at most 64 characters)", i)
		}
		if seen[r.Name] {
			return fmt.Errorf("%s: two rules are named %q", where, r.Name)
		}
		seen[r.Name] = true
		if severityRank(r.Severity) < 0 {
			return fmt.Errorf("%s: severity %q is not warning, alert or critical", where, r.Severity)
		}
		if r.For < 0 || r.EscalateAfter < 0 {
			return fmt.Errorf("%s: for and escalate_after must not be negative", where)
		}
		switch r.Kind {
		case KindAQI:
			cat, ok := vnaqi.ParseCategory(r.MinCategory)
			if !ok {
				return fmt.Errorf("%s: min_category %q is not one of good, moderate, poor, bad (unhealthy), very_bad, hazardous", where, r.MinCategory)
			}
			r.minCat = cat
		case KindThreshold, KindRate:
			if err := r.validateLevels(where); err != nil {
				return err
			}
		case KindDeviceOffline, KindFeedSilent, KindPipelineStalled:
		case KindDossierDue, KindTaskOverdue:
			if other, dup := adminKinds[r.Kind]; dup && r.on() {
				return fmt.Errorf("%s: rule %q is already the enabled %s rule; one per kind (disable one with enabled: false)", where, other, r.Kind)
			}
			if r.on() {
				adminKinds[r.Kind] = r.Name
			}
			if r.Horizon < time.Hour {
				return fmt.Errorf("%s: horizon %s is below 1h", where, r.Horizon)
			}
			if r.Kind == KindDossierDue {
				if r.Lead <= 0 || r.Lead > 30*24*time.Hour {
					return fmt.Errorf("%s: lead %s is outside 0..720h (how long before a dossier's due time its alert opens)", where, r.Lead)
				}
				if severityRank(r.LateSeverity) < 0 {
					return fmt.Errorf("%s: late_severity %q is not warning, alert or critical", where, r.LateSeverity)
				}
			}
		default:
			return fmt.Errorf("%s: kind %q is not aqi, threshold, rate, device_offline, feed_silent, pipeline_stalled, dossier_due or task_overdue", where, r.Kind)
		}
		if r.PerDevice && r.Kind != KindThreshold && r.Kind != KindRate {
			return fmt.Errorf("%s: per_device is a setting of threshold and rate rules only", where)
		}
		if r.Kind != KindRate && r.Window != 0 {
			return fmt.Errorf("%s: window is a setting of rate rules only", where)
		}
		if r.Kind != KindThreshold && r.Kind != KindRate && r.Direction != "" {
			return fmt.Errorf("%s: direction is a setting of threshold and rate rules only", where)
		}
		if !isAdminKind(r.Kind) && (r.Lead != 0 || r.LateSeverity != "" || r.Horizon != 0) {
			return fmt.Errorf("%s: lead, late_severity and horizon are settings of dossier_due and task_overdue rules only", where)
		}
		if r.Kind == KindTaskOverdue && (r.Lead != 0 || r.LateSeverity != "") {
			return fmt.Errorf("%s: lead and late_severity are settings of dossier_due rules only (a task alerts once its due date has passed)", where)
		}
	}
	return nil
}

// validateLevels checks a threshold or rate rule: metrics, direction,
// window and stages that go one way.
func (r *Rule) validateLevels(where string) error {
	if len(r.Metrics) == 0 {
		return fmt.Errorf("%s: a %s rule needs metrics", where, r.Kind)
	}
	if r.Direction != DirectionAbove && r.Direction != DirectionBelow {
		return fmt.Errorf("%s: direction %q is not above or below", where, r.Direction)
	}
	if r.Kind == KindRate && (r.Window < time.Minute || r.Window > 24*time.Hour) {
		return fmt.Errorf("%s: a rate rule needs a window within 1m..24h (the span its change is measured over), not %s", where, r.Window)
	}
	switch {
	case len(r.Stages) == 0 && !r.PerDevice:
		return fmt.Errorf("%s: a %s rule needs at least one stage (name, %s, severity), or per_device: true (levels set per device in the registry)", where, r.Kind, r.Direction)
	case len(r.Stages) > 0 && r.PerDevice:
		return fmt.Errorf("%s: a per_device rule has no stages of its own (remove stages, or per_device)", where)
	}
	for j, s := range r.Stages {
		if s.Name == "" || severityRank(s.Severity) < 0 {
			return fmt.Errorf("%s: stage %d needs a name and a severity (warning, alert, critical)", where, j)
		}
		if r.Direction == DirectionBelow {
			if s.Below == nil || s.Above != 0 {
				return fmt.Errorf("%s: stage %q of a direction below rule sets below, not above", where, s.Name)
			}
			if j > 0 && *s.Below >= *r.Stages[j-1].Below {
				return fmt.Errorf("%s: stages must fall: %q (%v) is not below %q (%v)", where, s.Name, *s.Below, r.Stages[j-1].Name, *r.Stages[j-1].Below)
			}
			continue
		}
		if s.Below != nil {
			return fmt.Errorf("%s: stage %q sets below in a direction above rule (set direction: below)", where, s.Name)
		}
		if j > 0 && s.Above <= r.Stages[j-1].Above {
			return fmt.Errorf("%s: stages must rise: %q (%v) is not above %q (%v)", where, s.Name, s.Above, r.Stages[j-1].Name, r.Stages[j-1].Above)
		}
	}
	return nil
}

// level is a stage's limit: its above, or its below for a below rule.
func (s Stage) level() float64 {
	if s.Below != nil {
		return *s.Below
	}
	return s.Above
}
