package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// TopicDevices is the compacted Kafka topic of the live registry, keyed by
// device id: the newest record of each device is its whole current entry
// (docs/operations.md, "Device registry"). Every role follows it from the
// first record, over the CSV file (deploy/devices.csv), which stays the
// seed and the bulk import.
const TopicDevices = "ioc.devices.v1"

// Sources of a record.
const (
	SourceCSV   = "csv"   // seeded or bulk-imported from the CSV file
	SourceAdmin = "admin" // the admin page
	SourceCLI   = "cli"   // ioc device …
)

// Level is one alarm level of a device for one rule: a reading beyond
// Value (above or below, as the rule says; for a rate rule, a change over
// the rule's window) raises the alert at this level.
type Level struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Severity string  `json:"severity"`
}

// Alarm gives a device its own levels for one configured rule
// (stream.alerts.rules[].name), in place of the rule's stages.
type Alarm struct {
	Rule   string  `json:"rule"`
	Levels []Level `json:"levels"`
}

// Window is a maintenance window: while it lasts, the device raises no
// alert and the wall shows it as under maintenance.
type Window struct {
	FromMs int64  `json:"from_ms"`
	ToMs   int64  `json:"to_ms"`
	Note   string `json:"note,omitempty"`
}

// Record is one version of a device's entry, as the topic and the table
// device_registry_raw hold it.
type Record struct {
	ID          string   `json:"device_id"`
	Partner     string   `json:"partner"`
	Type        string   `json:"type"`
	Ward        string   `json:"ward"`
	Name        string   `json:"name"`
	Lat         float64  `json:"lat"`
	Lon         float64  `json:"lon"`
	IntervalS   int      `json:"interval_s"`
	Alarms      []Alarm  `json:"alarms,omitempty"`
	Maintenance []Window `json:"maintenance,omitempty"`
	Retired     bool     `json:"retired,omitempty"`
	// Version is the time of the change (unix ms); a reader keeps the
	// highest per device.
	Version int64  `json:"version"`
	Actor   string `json:"actor"`
	Source  string `json:"source"`
	Note    string `json:"note,omitempty"`
}

// Limits of a record.
const (
	MaxAlarms      = 16
	MaxLevels      = 8
	MaxWindows     = 32
	MaxTextLen     = 200
	MaxIntervalS   = 7 * 24 * 3600
	maxWindowSpanS = 366 * 24 * 3600
)

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	rulePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	// DeviceTypes are the registry's device types.
	DeviceTypes = []string{"air_quality", "water_level", "rainfall", "traffic", "streetlight"}
	severities  = []string{"warning", "alert", "critical"}
)

// ErrInvalid wraps every validation error of a record.
var ErrInvalid = errors.New("invalid device record")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

func text(field, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return invalid("%s is required", field)
	case len(s) > MaxTextLen:
		return invalid("%s is longer than %d bytes", field, MaxTextLen)
	case !utf8.ValidString(s):
		return invalid("%s is not valid UTF-8", field)
	case strings.ContainsAny(s, "\x00\r\n"):
		return invalid("%s holds a control character", field)
	}
	return nil
}

// Validate reports what is wrong with a record, saying which field.
func (r *Record) Validate() error {
	if !idPattern.MatchString(r.ID) {
		return invalid("device_id %q is not 1-128 characters of [A-Za-z0-9._:-] starting with a letter or digit", r.ID)
	}
	if !idPattern.MatchString(r.Partner) {
		return invalid("partner %q is not 1-128 characters of [A-Za-z0-9._:-]", r.Partner)
	}
	if !slices.Contains(DeviceTypes, r.Type) {
		return invalid("type %q is not one of %s", r.Type, strings.Join(DeviceTypes, ", "))
	}
	for _, f := range []struct {
		name, v string
		req     bool
	}{{"ward", r.Ward, true}, {"name", r.Name, true}, {"actor", r.Actor, true}, {"note", r.Note, false}} {
		if err := text(f.name, f.v, f.req); err != nil {
			return err
		}
	}
	if !(r.Lat >= -90 && r.Lat <= 90) || !(r.Lon >= -180 && r.Lon <= 180) {
		return invalid("position %v,%v is not a latitude and longitude", r.Lat, r.Lon)
	}
	if r.IntervalS < 1 || r.IntervalS > MaxIntervalS {
		return invalid("interval_s %d is outside 1..%d seconds", r.IntervalS, MaxIntervalS)
	}
	if r.Version <= 0 {
		return invalid("version must be the time of the change in unix ms")
	}
	if !slices.Contains([]string{SourceCSV, SourceAdmin, SourceCLI}, r.Source) {
		return invalid("source %q is not csv, admin or cli", r.Source)
	}
	if len(r.Alarms) > MaxAlarms {
		return invalid("%d alarms: at most %d", len(r.Alarms), MaxAlarms)
	}
	rules := map[string]bool{}
	for i, a := range r.Alarms {
		if !rulePattern.MatchString(a.Rule) {
			return invalid("alarms[%d]: rule %q is not the name of an alert rule", i, a.Rule)
		}
		if rules[a.Rule] {
			return invalid("alarms[%d]: rule %q has levels twice", i, a.Rule)
		}
		rules[a.Rule] = true
		if len(a.Levels) == 0 || len(a.Levels) > MaxLevels {
			return invalid("alarms[%d] (%s): 1..%d levels", i, a.Rule, MaxLevels)
		}
		dir := 0.0
		for j, l := range a.Levels {
			if err := text(fmt.Sprintf("alarms[%d].levels[%d].name", i, j), l.Name, true); err != nil {
				return err
			}
			if math.IsNaN(l.Value) || math.IsInf(l.Value, 0) {
				return invalid("alarms[%d] (%s): level %q is not a number", i, a.Rule, l.Name)
			}
			if !slices.Contains(severities, l.Severity) {
				return invalid("alarms[%d] (%s): level %q: severity %q is not warning, alert or critical", i, a.Rule, l.Name, l.Severity)
			}
			if j > 0 {
				d := l.Value - a.Levels[j-1].Value
				// Levels go one way: rising for an "above" rule, falling
				// for a "below" rule (the rule says which).
				if d == 0 || (dir != 0 && (d > 0) != (dir > 0)) {
					return invalid("alarms[%d] (%s): levels must all rise or all fall, from the first level to the worst", i, a.Rule)
				}
				dir = d
			}
		}
	}
	if len(r.Maintenance) > MaxWindows {
		return invalid("%d maintenance windows: at most %d", len(r.Maintenance), MaxWindows)
	}
	for i, w := range r.Maintenance {
		if w.FromMs <= 0 || w.ToMs <= w.FromMs {
			return invalid("maintenance[%d]: the end must be after the start", i)
		}
		if (w.ToMs-w.FromMs)/1000 > maxWindowSpanS {
			return invalid("maintenance[%d]: longer than a year (retire the device instead)", i)
		}
		if err := text(fmt.Sprintf("maintenance[%d].note", i), w.Note, false); err != nil {
			return err
		}
	}
	return nil
}

// Decode parses and validates a record of the topic.
func Decode(b []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return r, r.Validate()
}

// Device turns a record into the registry entry the roles use.
func (r *Record) Device() *Device {
	d := &Device{ID: r.ID, Partner: r.Partner, Type: r.Type, Ward: r.Ward, Name: r.Name, Lat: r.Lat, Lon: r.Lon,
		Interval: time.Duration(r.IntervalS) * time.Second, Alarms: r.Alarms, Maintenance: r.Maintenance, Version: r.Version}
	return d
}

// RecordOf is the record of a device entry (the CSV's devices have no
// alarms or windows).
func RecordOf(d *Device) Record {
	return Record{ID: d.ID, Partner: d.Partner, Type: d.Type, Ward: d.Ward, Name: d.Name, Lat: d.Lat, Lon: d.Lon,
		IntervalS: int(d.Interval / time.Second), Alarms: d.Alarms, Maintenance: d.Maintenance, Version: d.Version}
}

// Levels returns the device's own levels for a rule, or nil.
func (d *Device) Levels(rule string) []Level {
	if d == nil {
		return nil
	}
	for _, a := range d.Alarms {
		if a.Rule == rule {
			return a.Levels
		}
	}
	return nil
}

// InMaintenance reports whether the device is under maintenance at ms,
// and the window's end.
func (d *Device) InMaintenance(ms int64) (bool, int64) {
	if d == nil {
		return false, 0
	}
	for _, w := range d.Maintenance {
		if ms >= w.FromMs && ms < w.ToMs {
			return true, w.ToMs
		}
	}
	return false, 0
}

// Overlay is the live registry: the CSV file's devices overlaid with the
// records of the topic (the newest per device wins; a retired device is
// gone). It is built by one goroutine (Apply) and read by many through
// Current, which returns an immutable Registry.
type Overlay struct {
	base    *Registry
	records map[string]Record
}

// NewOverlay starts from the CSV file's registry (may be empty).
func NewOverlay(base *Registry) *Overlay {
	if base == nil {
		base = &Registry{byID: map[string]*Device{}}
	}
	return &Overlay{base: base, records: map[string]Record{}}
}

// Apply takes one record; it reports whether the registry changed (an
// older version of a device than the one held changes nothing).
func (o *Overlay) Apply(r Record) bool {
	if old, ok := o.records[r.ID]; ok && old.Version >= r.Version {
		return false
	}
	o.records[r.ID] = r
	return true
}

// Record returns the newest record of a device, if the topic has one.
func (o *Overlay) Record(id string) (Record, bool) {
	r, ok := o.records[id]
	return r, ok
}

// Registry builds the registry in force: the file's devices in file
// order, replaced or retired by their records, then the devices only the
// topic knows, by id.
func (o *Overlay) Registry() *Registry {
	reg := &Registry{byID: make(map[string]*Device, len(o.base.order)+len(o.records))}
	add := func(d *Device) {
		reg.byID[d.ID] = d
		reg.order = append(reg.order, d)
	}
	for _, d := range o.base.order {
		if r, ok := o.records[d.ID]; ok {
			if !r.Retired {
				add(r.Device())
			}
			continue
		}
		add(d)
	}
	var extra []string
	for id, r := range o.records {
		if o.base.byID[id] == nil && !r.Retired {
			extra = append(extra, id)
		}
	}
	slices.Sort(extra)
	for _, id := range extra {
		r := o.records[id]
		add(r.Device())
	}
	return reg
}

// Records lists the topic's newest record of every device, retired ones
// included, by id.
func (o *Overlay) Records() []Record {
	out := make([]Record, 0, len(o.records))
	for _, r := range o.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out
}
