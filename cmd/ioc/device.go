package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
)

const deviceUsage = `ioc device — the live device registry (Kafka topic ioc.devices.v1; audited)

  ioc device list   [-retired] [-json]
  ioc device add    -id ID -partner P -type T -ward W -name N -lat LAT -lon LON -interval 60s [-levels …] [-maintenance …]
  ioc device edit   -id ID [any field of add] [-levels …] [-maintenance …]   (fields not given stay as they are)
  ioc device retire -id ID [-note why]
  ioc device import -file deploy/devices.csv   (adds the file's new devices, updates changed ones; retired ones stay retired)

  -levels 'water_level=Báo động 1:3.0:warning,Báo động 2:3.5:alert;water_rise=Lên nhanh:0.4:alert'
     the device's own alarm levels per alert rule (stream.alerts.rules[].name), first level to worst;
     an empty value (-levels '') removes them.
  -maintenance '2026-12-01T08:00:00+07:00/2026-12-01T17:00:00+07:00/thay cảm biến'  (';' between windows, '' for none)

Every role (ingest, stream, dashboard) applies a change within seconds, without a restart.
`

// loadDeviceConfig loads the configuration of `ioc device` (tests set
// their own).
var loadDeviceConfig = loadConfig

// deviceCommand runs `ioc device …`.
func deviceCommand(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" {
		fmt.Fprint(out, deviceUsage)
		return nil
	}
	verb := args[0]
	fs := flag.NewFlagSet("device "+verb, flag.ContinueOnError)
	fs.SetOutput(out)
	configPath := fs.String("config", os.Getenv("IOC_CONFIG"), "configuration file (YAML)")
	id := fs.String("id", "", "device id")
	partner := fs.String("partner", "", "partner (viettel, vnpt, …)")
	typ := fs.String("type", "", strings.Join(registry.DeviceTypes, ", "))
	ward := fs.String("ward", "", "ward or commune (Vietnamese name)")
	name := fs.String("name", "", "display name")
	lat := fs.Float64("lat", 0, "latitude")
	lon := fs.Float64("lon", 0, "longitude")
	interval := fs.Duration("interval", 0, "expected reporting interval (60s)")
	levels := fs.String("levels", "", "own alarm levels per rule (see ioc device help)")
	maint := fs.String("maintenance", "", "maintenance windows (see ioc device help)")
	note := fs.String("note", "", "why (recorded with the change)")
	file := fs.String("file", "", "import: the CSV file (header of deploy/devices.csv)")
	retired := fs.Bool("retired", false, "list: retired devices too")
	asJSON := fs.Bool("json", false, "list: one JSON record per line")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg, err := loadDeviceConfig(*configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	var fileReg *registry.Registry
	if cfg.Stream.RegistryFile != "" {
		if fileReg, err = registry.Load(cfg.Stream.RegistryFile); err != nil {
			return err
		}
	}
	o, err := registry.ReadAll(ctx, cfg.Kafka)
	if err != nil {
		return err
	}
	live := registry.NewOverlay(fileReg)
	for _, r := range o.Records() {
		live.Apply(r)
	}
	if verb == "list" {
		return listDevices(live, *retired, *asJSON, out)
	}
	w := cfg.Kafka.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond})
	defer w.Close()
	return withAuth(cfg, log, func(_ context.Context, a *auth.Auth, actor auth.Principal) error {
		ed := &registry.Editor{Kafka: cfg.Kafka, Writer: w, Audit: a.Audit(), Service: "cli", Source: registry.SourceCLI,
			Current: live.Current, Now: time.Now}
		who := registry.Who{Actor: actor.Name, Role: string(actor.Role)}
		if verb == "import" {
			return importDevices(ctx, ed, live, *file, who, out)
		}
		if *id == "" {
			return errors.New("-id is required")
		}
		var r registry.Record
		switch verb {
		case "add":
			r = registry.Record{ID: *id}
		case "edit":
			cur, ok := live.Current(*id)
			if !ok || cur.Retired {
				return fmt.Errorf("device %s: %w", *id, registry.ErrNotFound)
			}
			r = cur
		case "retire":
			r = registry.Record{ID: *id, Note: *note}
			got, err := ed.Apply(ctx, registry.OpRetire, r, 0, who)
			if err == nil {
				fmt.Fprintf(out, "device %s retired (version %d)\n", got.ID, got.Version)
			}
			return err
		default:
			fmt.Fprint(out, deviceUsage)
			return fmt.Errorf("unknown device command %q", verb)
		}
		if set["partner"] || verb == "add" {
			r.Partner = *partner
		}
		if set["type"] || verb == "add" {
			r.Type = *typ
		}
		if set["ward"] || verb == "add" {
			r.Ward = *ward
		}
		if set["name"] || verb == "add" {
			r.Name = *name
		}
		if set["lat"] || verb == "add" {
			r.Lat = *lat
		}
		if set["lon"] || verb == "add" {
			r.Lon = *lon
		}
		if set["interval"] || verb == "add" {
			r.IntervalS = int(*interval / time.Second)
		}
		if set["levels"] {
			if r.Alarms, err = parseLevels(*levels); err != nil {
				return err
			}
		}
		if set["maintenance"] {
			if r.Maintenance, err = parseWindows(*maint); err != nil {
				return err
			}
		}
		r.Note = *note
		op := registry.OpAdd
		if verb == "edit" {
			op = registry.OpEdit
		}
		got, err := ed.Apply(ctx, op, r, r.Version, who)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "device %s saved (version %d)\n", got.ID, got.Version)
		return nil
	})
}

func listDevices(live *registry.Overlay, retired, asJSON bool, out io.Writer) error {
	enc := json.NewEncoder(out)
	shown := map[string]bool{}
	show := func(r registry.Record) {
		shown[r.ID] = true
		if asJSON {
			_ = enc.Encode(r)
			return
		}
		state := "active"
		if r.Retired {
			state = "retired"
		}
		fmt.Fprintf(out, "%-28s %-8s %-12s %-7s %4ds levels=%d maintenance=%d  %s — %s\n", r.ID, r.Partner, r.Type, state,
			r.IntervalS, len(r.Alarms), len(r.Maintenance), r.Name, r.Ward)
	}
	for _, d := range live.Registry().Devices() {
		r, _ := live.Current(d.ID)
		show(r)
	}
	if retired {
		for _, r := range live.Records() {
			if !shown[r.ID] {
				show(r)
			}
		}
	}
	return nil
}

// importDevices publishes what the CSV file says: new devices are added,
// devices whose CSV fields changed are updated (their levels and windows
// stay), retired ones are left retired.
func importDevices(ctx context.Context, ed *registry.Editor, live *registry.Overlay, path string, who registry.Who, out io.Writer) error {
	if path == "" {
		return errors.New("import: -file is required")
	}
	file, err := registry.Load(path)
	if err != nil {
		return err
	}
	var added, updated, same, skipped int
	for _, d := range file.Devices() {
		r := registry.RecordOf(d)
		cur, ok := live.Current(d.ID)
		switch {
		case ok && cur.Retired:
			skipped++
			continue
		case ok && cur.Version > 0:
			if cur.Partner == r.Partner && cur.Type == r.Type && cur.Ward == r.Ward && cur.Name == r.Name && cur.Lat == r.Lat &&
				cur.Lon == r.Lon && cur.IntervalS == r.IntervalS {
				same++
				continue
			}
			r.Alarms, r.Maintenance = cur.Alarms, cur.Maintenance
			if _, err := ed.Apply(ctx, registry.OpEdit, r, cur.Version, who); err != nil {
				return err
			}
			updated++
		default:
			// Not in the topic yet (the CSV-only seed, or new).
			if ok {
				if _, err := ed.Apply(ctx, registry.OpEdit, r, 0, who); err != nil {
					return err
				}
				updated++
				continue
			}
			if _, err := ed.Apply(ctx, registry.OpAdd, r, 0, who); err != nil {
				return err
			}
			added++
		}
	}
	fmt.Fprintf(out, "import %s: %d added, %d updated, %d unchanged, %d retired left retired\n", path, added, updated, same, skipped)
	return nil
}

// parseLevels reads 'rule=Name:value:severity,…;rule2=…'.
func parseLevels(s string) ([]registry.Alarm, error) {
	var out []registry.Alarm
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		rule, list, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("-levels %q: want rule=Name:value:severity,…", part)
		}
		a := registry.Alarm{Rule: strings.TrimSpace(rule)}
		for _, l := range strings.Split(list, ",") {
			f := strings.Split(l, ":")
			if len(f) != 3 {
				return nil, fmt.Errorf("-levels %q: a level is Name:value:severity", l)
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
			if err != nil {
				return nil, fmt.Errorf("-levels %q: value: %w", l, err)
			}
			a.Levels = append(a.Levels, registry.Level{Name: strings.TrimSpace(f[0]), Value: v, Severity: strings.TrimSpace(f[2])})
		}
		out = append(out, a)
	}
	return out, nil
}

// parseWindows reads 'from/to[/note];…' with RFC 3339 times.
func parseWindows(s string) ([]registry.Window, error) {
	var out []registry.Window
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		f := strings.SplitN(part, "/", 3)
		if len(f) < 2 {
			return nil, fmt.Errorf("-maintenance %q: want from/to[/note] in RFC 3339", part)
		}
		from, err := time.Parse(time.RFC3339, strings.TrimSpace(f[0]))
		if err != nil {
			return nil, fmt.Errorf("-maintenance %q: start: %w", part, err)
		}
		to, err := time.Parse(time.RFC3339, strings.TrimSpace(f[1]))
		if err != nil {
			return nil, fmt.Errorf("-maintenance %q: end: %w", part, err)
		}
		w := registry.Window{FromMs: from.UnixMilli(), ToMs: to.UnixMilli()}
		if len(f) == 3 {
			w.Note = strings.TrimSpace(f[2])
		}
		out = append(out, w)
	}
	return out, nil
}
