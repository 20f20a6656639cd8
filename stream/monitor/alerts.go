package monitor

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/vnaqi"
)

// Errors of alert commands.
var (
	ErrUnknownAlert = errors.New("no open alert has this id (resolved already, or never opened)")
	ErrBadCommand   = errors.New("bad alert command")
)

// clearFor: a threshold or VN_AQI alert resolves once its condition has
// been false this long (data time), so that a value wobbling around a stage
// does not open and resolve an alert at every reading.
const clearFor = 2 * time.Minute

// Engine evaluates the alert rules and keeps every open alert's lifecycle.
// Like Tracker it is pure state: readings, status changes, commands and the
// clock go in, alert transitions come out, with ids that depend only on the
// input.
type Engine struct {
	cfg    AlertsConfig
	lookup func(id string) *registry.Device
	conds  map[string]*cond  // rule \0 subject → condition being watched
	open   map[string]*alert // rule \0 subject → open alert
	byID   map[string]*alert // alert id → open alert
	rules  map[string]*Rule  // by name
	admin  adminState        // admin_alerts.go
	// feeds is the last status of every partner feed (pipeline_stalled:
	// all of them silent), feedSeen the newest reading of any.
	feeds    map[string]string
	feedSeen int64
}

type cond struct {
	since    int64 // data time the condition started to hold; 0 = not holding
	falseAt  int64 // data time it stopped holding; 0 = holding
	stage    int
	value    float64
	lastSeen int64
	hist     []point // rate rules: the readings within the rule's window
}

// point is one reading of a rate rule's history.
type point struct {
	ms int64
	v  float64
}

// maxHistory bounds a rate rule's history per device (a device reporting
// every second for a 24h window keeps every 337th reading's worth).
const maxHistory = 256

type alert struct {
	ev       event.AlertEvent
	rule     *Rule
	key      string
	stage    int
	lastStep int64 // when it opened or last escalated: escalation counts from here
}

// NewEngine prepares the rules; lookup gives a device's registry entry
// (nil for an unregistered device).
func NewEngine(cfg AlertsConfig, lookup func(string) *registry.Device) *Engine {
	// A disabled rule is not evaluated, and its alerts are not restored.
	var rules []Rule
	for _, r := range cfg.Rules {
		if r.on() {
			rules = append(rules, r)
		}
	}
	cfg.Rules = rules
	e := &Engine{cfg: cfg, lookup: lookup, conds: map[string]*cond{}, open: map[string]*alert{}, byID: map[string]*alert{}, rules: map[string]*Rule{},
		feeds: map[string]string{}}
	for i := range cfg.Rules {
		e.rules[cfg.Rules[i].Name] = &cfg.Rules[i]
	}
	e.admin.init(e)
	return e
}

// Restore re-opens an alert that ClickHouse holds unresolved (its latest
// transition), after a restart.
func (e *Engine) Restore(ev event.AlertEvent) {
	r := e.rules[ev.Rule]
	if r == nil || ev.State == event.AlertResolved {
		return // a rule removed from the configuration: its alerts stay as they are
	}
	key := ev.Rule + "\x00" + ev.Subject
	if old := e.open[key]; old != nil && old.ev.AtMs >= ev.AtMs {
		return
	}
	var dev *registry.Device
	if ev.DeviceID != "" && e.lookup != nil {
		dev = e.lookup(ev.DeviceID)
	}
	a := &alert{ev: ev, rule: r, key: key, stage: stageIndex(e.stagesFor(r, dev), ev.Stage), lastStep: ev.OpenedMs}
	if ev.State == event.AlertEscalated || ev.Level > 0 {
		a.lastStep = ev.AtMs
	}
	e.open[key] = a
	e.byID[ev.AlertID] = a
}

func stageIndex(stages []Stage, name string) int {
	for i, s := range stages {
		if s.Name == name {
			return i
		}
	}
	return 0
}

// stagesOf gives the stages of a rule; a VN_AQI rule has one per category
// from min_category up, a dossier_due rule "due soon" then "late".
func stagesOf(r *Rule) []Stage {
	switch r.Kind {
	case KindDossierDue:
		return []Stage{{Name: StageDueSoon, Severity: r.Severity}, {Name: StageLate, Severity: r.LateSeverity}}
	case KindTaskOverdue:
		return []Stage{{Name: StageOverdue, Severity: r.Severity}}
	case KindAQI:
	default:
		return r.Stages
	}
	var out []Stage
	for c := r.minCat; c <= vnaqi.Hazardous; c++ {
		lo, _ := c.Range()
		sev := r.Severity
		if c > r.minCat {
			sev = bump(sev, int(c-r.minCat))
		}
		out = append(out, Stage{Name: c.Vietnamese(), Above: float64(lo) - 0.5, Severity: sev})
	}
	return out
}

// stagesFor gives the stages a rule applies to a device: the device's own
// levels for the rule (registry alarms) when it has some, else the rule's.
func (e *Engine) stagesFor(r *Rule, dev *registry.Device) []Stage {
	levels := dev.Levels(r.Name)
	if len(levels) == 0 || (r.Kind != KindThreshold && r.Kind != KindRate) {
		return stagesOf(r)
	}
	out := make([]Stage, len(levels))
	for i, l := range levels {
		out[i] = Stage{Name: l.Name, Severity: l.Severity}
		if r.Direction == DirectionBelow {
			v := l.Value
			out[i].Below = &v
		} else {
			out[i].Above = l.Value
		}
	}
	return out
}

// beyond reports whether v is past a stage in the rule's direction.
func beyond(r *Rule, s Stage, v float64) bool {
	if r.Direction == DirectionBelow {
		return v < s.level()
	}
	return v > s.level()
}

func bump(sev string, n int) string {
	i := min(severityRank(sev)+n, len(severities)-1)
	return severities[max(i, 0)]
}

// Reading evaluates the threshold and VN_AQI rules on one reading
// (derived vn_aqi readings feed the VN_AQI rules).
func (e *Engine) Reading(r *event.Reading) []event.AlertEvent {
	if r.Kind != event.KindNumber {
		return nil
	}
	var out []event.AlertEvent
	dev := e.lookup(r.DeviceID)
	for i := range e.cfg.Rules {
		rule := &e.cfg.Rules[i]
		switch rule.Kind {
		case KindAQI:
			if r.Metric != event.MetricVNAQI || !r.Derived {
				continue
			}
		case KindThreshold, KindRate:
			if !slices.Contains(rule.Metrics, r.Metric) {
				continue
			}
		default:
			continue
		}
		if len(rule.DeviceTypes) > 0 && (dev == nil || !slices.Contains(rule.DeviceTypes, dev.Type)) {
			continue
		}
		out = append(out, e.evaluate(rule, r, dev)...)
	}
	return out
}

func (e *Engine) evaluate(rule *Rule, r *event.Reading, dev *registry.Device) []event.AlertEvent {
	key := rule.Name + "\x00" + r.DeviceID
	c := e.conds[key]
	if c == nil {
		c = &cond{stage: -1}
		e.conds[key] = c
	}
	if r.ObservedMs < c.lastSeen {
		return nil // out of order: the condition is judged on the newest data
	}
	c.lastSeen = r.ObservedMs
	value := r.Value
	if rule.Kind == KindRate {
		// The change within the window: the newest reading minus the
		// oldest one the window still holds.
		c.hist = append(c.hist, point{r.ObservedMs, r.Value})
		cut := 0
		for cut < len(c.hist)-1 && c.hist[cut].ms < r.ObservedMs-rule.Window.Milliseconds() {
			cut++
		}
		if over := len(c.hist) - cut - maxHistory; over > 0 {
			cut += over
		}
		c.hist = append(c.hist[:0], c.hist[cut:]...)
		value = 0 // one reading in the window: no change measured
		if len(c.hist) > 1 {
			// rounded: 1.4-2.0 is -0.6, not -0.6000000000000001
			value = math.Round((r.Value-c.hist[0].v)*1e9) / 1e9
		}
	}
	if in, _ := dev.InMaintenance(r.ObservedMs); in {
		// Under maintenance: nothing opens or escalates, and a condition
		// counts afresh once the window ends.
		c.since, c.stage = 0, -1
		return nil
	}
	stages := e.stagesFor(rule, dev)
	if len(stages) == 0 {
		return nil // a rule for devices with their own levels only
	}
	stage := -1
	for i, s := range stages {
		if beyond(rule, s, value) {
			stage = i
		}
	}
	c.value = value
	a := e.open[key]
	var out []event.AlertEvent
	if stage < 0 {
		c.since, c.stage = 0, -1
		if c.falseAt == 0 {
			c.falseAt = r.ObservedMs
		}
		if a != nil && r.ObservedMs-c.falseAt >= clearFor.Milliseconds() {
			out = append(out, e.resolve(a, r.ObservedMs, fmt.Sprintf("%s trở lại bình thường: %s", e.title(rule, stages, a.stage), e.valueText(rule, r, value))))
		}
		return out
	}
	c.falseAt = 0
	if c.since == 0 {
		c.since = r.ObservedMs
	}
	c.stage = stage
	if a == nil {
		if r.ObservedMs-c.since < rule.For.Milliseconds() {
			return nil
		}
		ev := e.base(rule, r.DeviceID, dev, r.Partner, r.Ward)
		ev.Metric, ev.Value, ev.Threshold = r.Metric, value, stages[stage].level()
		ev.Stage, ev.Severity = stages[stage].Name, stages[stage].Severity
		ev.Message = e.message(rule, stages, stage, r, value, dev)
		return []event.AlertEvent{e.openAlert(rule, key, ev, stage, r.ObservedMs)}
	}
	a.ev.Value = value
	if stage > a.stage {
		a.stage = stage
		a.ev.Stage, a.ev.Threshold = stages[stage].Name, stages[stage].level()
		if severityRank(stages[stage].Severity) > severityRank(a.ev.Severity) {
			a.ev.Severity = stages[stage].Severity
		}
		a.ev.Message = e.message(rule, stages, stage, r, value, dev)
		out = append(out, e.escalate(a, r.ObservedMs, "stage:"+strconv.Itoa(stage)))
	}
	return out
}

// RestoreFeed sets the last known status of a partner feed after a
// restart (pipeline_stalled looks at every feed).
func (e *Engine) RestoreFeed(partner, status string) { e.feeds[partner] = status }

// stalled reports whether every known feed is silent.
func (e *Engine) stalled() bool {
	for _, s := range e.feeds {
		if s != event.StatusSilent {
			return false
		}
	}
	return len(e.feeds) > 0
}

// Status evaluates the device_offline, feed_silent and pipeline_stalled
// rules on a status change.
func (e *Engine) Status(st event.DeviceStatus) []event.AlertEvent {
	var out []event.AlertEvent
	if st.Kind == event.SubjectFeed {
		e.feeds[st.Partner] = st.Status
		e.feedSeen = max(e.feedSeen, st.LastSeenMs)
	}
	for i := range e.cfg.Rules {
		rule := &e.cfg.Rules[i]
		var subject string
		var raise, clear bool
		switch {
		case rule.Kind == KindDeviceOffline && st.Kind == event.SubjectDevice:
			if len(rule.DeviceTypes) > 0 && !slices.Contains(rule.DeviceTypes, st.Type) {
				continue
			}
			subject = st.DeviceID
			// A device offline with its whole feed is the feed's alert.
			raise = st.Status == event.StatusOffline && st.Cause != "feed_silent"
			clear = st.Status == event.StatusOnline
		case rule.Kind == KindFeedSilent && st.Kind == event.SubjectFeed:
			subject = "feed:" + st.Partner
			raise = st.Status == event.StatusSilent
			clear = st.Status == event.StatusLive
		case rule.Kind == KindPipelineStalled && st.Kind == event.SubjectFeed:
			key := rule.Name + "\x00pipeline"
			a := e.open[key]
			switch stalled := e.stalled(); {
			case stalled && a == nil:
				ev := e.base(rule, "pipeline", nil, "", "")
				ev.DeviceID = ""
				ev.Severity = rule.Severity
				ev.Value = float64(e.feedSeen)
				last := "chưa từng có dữ liệu"
				if e.feedSeen > 0 {
					last = "dữ liệu cuối lúc " + time.UnixMilli(e.feedSeen).In(event.Location).Format("15:04 02/01")
				}
				ev.Message = fmt.Sprintf("%s: không nhận được dữ liệu từ đối tác nào (%d đối tác), %s", rule.Label, len(e.feeds), last)
				out = append(out, e.openAlert(rule, key, ev, 0, st.AtMs))
			case !stalled && a != nil:
				out = append(out, e.resolve(a, st.AtMs, "Dữ liệu từ "+partnerName(st.Partner)+" đã trở lại"))
			}
			continue
		default:
			continue
		}
		key := rule.Name + "\x00" + subject
		a := e.open[key]
		switch {
		case raise && a == nil:
			var dev *registry.Device
			if st.Kind == event.SubjectDevice {
				dev = e.lookup(st.DeviceID)
				if in, _ := dev.InMaintenance(st.AtMs); in {
					continue // offline for its maintenance: expected, not paged
				}
			}
			ev := e.base(rule, subject, dev, st.Partner, st.Ward)
			if st.Kind == event.SubjectFeed {
				ev.DeviceID = ""
			}
			ev.Severity = rule.Severity
			ev.Value = float64(st.LastSeenMs)
			ev.Message = e.statusMessage(rule, st, dev)
			out = append(out, e.openAlert(rule, key, ev, 0, st.AtMs))
		case clear && a != nil:
			msg := "Đã kết nối lại"
			if st.Kind == event.SubjectFeed {
				msg = "Dữ liệu từ " + partnerName(st.Partner) + " đã trở lại"
			}
			out = append(out, e.resolve(a, st.AtMs, msg))
		}
	}
	return out
}

// Command applies an operator's command (acknowledge).
func (e *Engine) Command(c event.AlertCommand) ([]event.AlertEvent, error) {
	if c.Action != "ack" || strings.TrimSpace(c.Operator) == "" || len(c.Operator) > event.MaxOperatorLen || len(c.Note) > event.MaxNoteLen {
		return nil, ErrBadCommand
	}
	a := e.byID[c.AlertID]
	if a == nil {
		return nil, ErrUnknownAlert
	}
	if a.ev.Acked {
		return nil, nil // acknowledged already: a repeated command changes nothing
	}
	a.ev.State, a.ev.Acked = event.AlertAcknowledged, true
	a.ev.Seq++
	a.ev.Operator, a.ev.Note = strings.TrimSpace(c.Operator), c.Note
	a.ev.AtMs = max(c.AtMs, a.ev.AtMs)
	a.ev.ID = event.AlertTransitionID(a.ev.AlertID, a.ev.State, a.ev.Level, c.ID)
	return []event.AlertEvent{a.ev}, nil
}

// Tick evaluates the administrative rules against the clock (admin
// alerts) and escalates alerts nobody acknowledged in time.
func (e *Engine) Tick(nowMs int64) []event.AlertEvent {
	out := e.adminTick(nowMs)
	keys := make([]string, 0, len(e.open))
	for k := range e.open {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := e.open[k]
		if a.ev.Acked || a.ev.Level >= e.cfg.MaxLevel {
			continue
		}
		if a.ev.DeviceID != "" && e.lookup != nil {
			if in, _ := e.lookup(a.ev.DeviceID).InMaintenance(nowMs); in {
				continue // under maintenance: nobody is paged further
			}
		}
		after := e.cfg.EscalateAfter
		if a.rule.EscalateAfter > 0 {
			after = a.rule.EscalateAfter
		}
		due := a.lastStep + after.Milliseconds()
		if nowMs < due {
			continue
		}
		a.ev.Severity = bump(a.ev.Severity, 1)
		out = append(out, e.escalate(a, due, "time"))
	}
	return out
}

// Retired resolves the open alerts of devices that left the registry
// (retired from /admin or `ioc device`): nobody is paged for a device
// that no longer exists. ids are the devices gone, at the time nowMs.
func (e *Engine) Retired(ids map[string]bool, nowMs int64) []event.AlertEvent {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, 0, len(e.open))
	for k, a := range e.open {
		if a.ev.DeviceID != "" && ids[a.ev.DeviceID] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []event.AlertEvent
	for _, k := range keys {
		out = append(out, e.resolve(e.open[k], nowMs, "Thiết bị đã ngừng sử dụng"))
	}
	for k := range e.conds {
		if _, dev, ok := strings.Cut(k, "\x00"); ok && ids[dev] {
			delete(e.conds, k)
		}
	}
	return out
}

// Open lists the open alerts (for the wall's snapshot and tests).
func (e *Engine) Open() []event.AlertEvent {
	out := make([]event.AlertEvent, 0, len(e.open))
	for _, a := range e.open {
		out = append(out, a.ev)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OpenedMs < out[j].OpenedMs })
	return out
}

func (e *Engine) base(rule *Rule, subject string, dev *registry.Device, partner, ward string) event.AlertEvent {
	ev := event.AlertEvent{Rule: rule.Name, Kind: rule.Kind, Subject: subject, DeviceID: subject, Partner: partner, Ward: ward}
	if dev != nil {
		ev.Ward = dev.Ward
	}
	return ev
}

func (e *Engine) openAlert(rule *Rule, key string, ev event.AlertEvent, stage int, at int64) event.AlertEvent {
	ev.AlertID = event.AlertID(rule.Name, ev.Subject, at)
	ev.State, ev.OpenedMs, ev.AtMs, ev.Seq = event.AlertOpen, at, at, 1
	ev.ID = event.AlertTransitionID(ev.AlertID, ev.State, 0, "")
	a := &alert{ev: ev, rule: rule, key: key, stage: stage, lastStep: at}
	e.open[key] = a
	e.byID[ev.AlertID] = a
	return ev
}

func (e *Engine) escalate(a *alert, at int64, why string) event.AlertEvent {
	a.ev.Level++
	a.ev.Seq++
	a.ev.State, a.ev.Acked = event.AlertEscalated, false
	a.ev.AtMs = max(at, a.ev.AtMs)
	a.lastStep = at
	a.ev.ID = event.AlertTransitionID(a.ev.AlertID, a.ev.State, a.ev.Level, why)
	return a.ev
}

func (e *Engine) resolve(a *alert, at int64, note string) event.AlertEvent {
	a.ev.State = event.AlertResolved
	a.ev.Seq++
	a.ev.AtMs = max(at, a.ev.AtMs)
	if note != "" && !a.ev.Acked {
		a.ev.Note = note
	} else if note != "" {
		a.ev.Note = strings.TrimSpace(a.ev.Note + " — " + note)
	}
	a.ev.ID = event.AlertTransitionID(a.ev.AlertID, a.ev.State, 0, "")
	delete(e.open, a.key)
	delete(e.byID, a.ev.AlertID)
	return a.ev
}

func (e *Engine) title(rule *Rule, stages []Stage, stage int) string {
	if stage >= 0 && stage < len(stages) {
		return rule.Label + " " + stages[stage].Name
	}
	return rule.Label
}

func (e *Engine) valueText(rule *Rule, r *event.Reading, v float64) string {
	if rule.Kind == KindAQI {
		n := int(v)
		return "VN_AQI " + strconv.Itoa(n) + " (" + vnaqi.CategoryOf(n).Vietnamese() + ")"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) > 8 {
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	if rule.Kind == KindRate && v > 0 {
		s = "+" + s
	}
	if r.Unit != "" {
		s += " " + r.Unit
	}
	if rule.Kind == KindRate {
		s += " trong " + spanText(rule.Window)
	}
	return s
}

func where(id string, dev *registry.Device, ward string) string {
	if dev != nil {
		return dev.Name + " — " + dev.Ward
	}
	if ward != "" {
		return id + " — " + ward
	}
	return id
}

func (e *Engine) message(rule *Rule, stages []Stage, stage int, r *event.Reading, v float64, dev *registry.Device) string {
	if rule.Kind == KindAQI {
		return e.valueText(rule, r, v) + " — " + where(r.DeviceID, dev, r.Ward)
	}
	return e.title(rule, stages, stage) + ": " + e.valueText(rule, r, v) + " — " + where(r.DeviceID, dev, r.Ward)
}

func (e *Engine) statusMessage(rule *Rule, st event.DeviceStatus, dev *registry.Device) string {
	last := "chưa từng có dữ liệu"
	if st.LastSeenMs > 0 {
		last = "dữ liệu cuối lúc " + time.UnixMilli(st.LastSeenMs).In(event.Location).Format("15:04 02/01")
	}
	if st.Kind == event.SubjectFeed {
		return rule.Label + " " + partnerName(st.Partner) + ": không thiết bị nào trực tuyến, " + last
	}
	return rule.Label + ": " + where(st.DeviceID, dev, st.Ward) + ", " + last
}

func partnerName(p string) string {
	switch p {
	case "viettel":
		return "Viettel"
	case "vnpt":
		return "VNPT"
	}
	return p
}

// spanText says a window in Vietnamese: "30 phút", "2 giờ".
func spanText(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " giờ"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " phút"
	}
	return d.String()
}
