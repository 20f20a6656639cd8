package deploy_test

// The analysts' city boards (deploy/grafana/ioc-city-*.json) and their
// provisioning (deploy/grafana/provisioning/): valid Grafana dashboard JSON
// on the provisioned ClickHouse datasource, and every panel's SQL, with
// Grafana's macros and variables expanded as grafana-clickhouse-datasource
// expands them, run against the real ClickHouse in a database of its own
// (schema applied, a few rows of every kind) with the analyst's readonly
// setting, returning the columns the panel expects.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"gopkg.in/yaml.v3"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/schema"
)

type grafanaDS struct {
	Type string `json:"type" yaml:"type"`
	UID  string `json:"uid" yaml:"uid"`
}

type grafanaTarget struct {
	Datasource *grafanaDS `json:"datasource"`
	RefID      string     `json:"refId"`
	RawSQL     string     `json:"rawSql"`
	Format     *int       `json:"format"`
	QueryType  string     `json:"queryType"`
	EditorType string     `json:"editorType"`
}

type grafanaPanel struct {
	ID          int        `json:"id"`
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Datasource  *grafanaDS `json:"datasource"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets     []grafanaTarget `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds *struct {
				Steps []struct {
					Color string   `json:"color"`
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type grafanaBoard struct {
	file          string
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Timezone      string `json:"timezone"`
	Time          struct {
		From, To string
	} `json:"time"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Type       string     `json:"type"`
			Datasource *grafanaDS `json:"datasource"`
			Query      string     `json:"query"`
			Multi      bool       `json:"multi"`
			IncludeAll bool       `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// provisionedDS reads the provisioned datasource.
func provisionedDS(t *testing.T) (grafanaDS, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(repoPath("deploy/grafana/provisioning/datasources/ioc-clickhouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			grafanaDS      `yaml:",inline"`
			Name           string            `yaml:"name"`
			Access         string            `yaml:"access"`
			Editable       bool              `yaml:"editable"`
			JSONData       map[string]any    `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("ioc-clickhouse.yaml: %v", err)
	}
	if f.APIVersion != 1 || len(f.Datasources) != 1 {
		t.Fatalf("ioc-clickhouse.yaml: apiVersion %d, %d datasources; want 1 and 1", f.APIVersion, len(f.Datasources))
	}
	ds := f.Datasources[0]
	if ds.Type != "grafana-clickhouse-datasource" || ds.UID == "" {
		t.Errorf("datasource type %q uid %q, want grafana-clickhouse-datasource and a uid", ds.Type, ds.UID)
	}
	if ds.JSONData["username"] != "ioc_analyst" || ds.JSONData["defaultDatabase"] != "ioc" || ds.JSONData["protocol"] != "native" {
		t.Errorf("datasource jsonData %v: want username ioc_analyst, defaultDatabase ioc, protocol native (HTTP fails on 18.16)", ds.JSONData)
	}
	if p := ds.SecureJSONData["password"]; !strings.HasPrefix(p, "${") {
		t.Errorf("the analyst's password must come from the environment, not the file: %q", p)
	}
	return ds.grafanaDS, ds.JSONData
}

func cityBoards(t *testing.T) []grafanaBoard {
	t.Helper()
	files, _ := filepath.Glob(repoPath("deploy/grafana/ioc-city-*.json"))
	if len(files) < 6 {
		t.Fatalf("%d city boards in deploy/grafana, want air, water, traffic, lighting, reform and dead letters", len(files))
	}
	var out []grafanaBoard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaBoard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		d.file = filepath.Base(f)
		out = append(out, d)
	}
	return out
}

// The boards load as Grafana dashboards: the fields Grafana requires,
// unique uids and panel ids, panels on the 24-column grid without
// overlapping, every datasource reference the provisioned one, every
// query raw SQL over the views analysts are told to use.
func TestGrafanaCityBoardsValid(t *testing.T) {
	ds, _ := provisionedDS(t)
	b, err := os.ReadFile(repoPath("deploy/grafana/provisioning/dashboards/ioc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Folder, Type    string
			DisableDeletion       bool `yaml:"disableDeletion"`
			AllowUIUpdates        bool `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int  `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&prov); err != nil || prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" ||
		prov.Providers[0].Options.Path == "" {
		t.Errorf("provisioning/dashboards/ioc.yaml: %v %+v", err, prov)
	}
	uids := map[string]string{}
	for _, d := range cityBoards(t) {
		if d.UID == "" || len(d.UID) > 40 || d.Title == "" || d.SchemaVersion < 36 || d.Time.From == "" || d.Time.To == "" ||
			d.Timezone != "Asia/Ho_Chi_Minh" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q title %q schemaVersion %d time %+v timezone %q, %d panels", d.file, d.UID, d.Title, d.SchemaVersion,
				d.Time, d.Timezone, len(d.Panels))
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", d.file, other, d.UID)
		}
		uids[d.UID] = d.file
		for _, v := range d.Templating.List {
			if v.Type != "query" || v.Datasource == nil || *v.Datasource != ds || v.Query == "" {
				t.Errorf("%s: variable %s: type %s datasource %v query %q", d.file, v.Name, v.Type, v.Datasource, v.Query)
			}
		}
		ids := map[int]bool{}
		var cells = map[[2]int]int{}
		for _, p := range d.Panels {
			where := fmt.Sprintf("%s panel %d %q", d.file, p.ID, p.Title)
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("%s: id missing or repeated", where)
			}
			ids[p.ID] = true
			if !slices.Contains([]string{"timeseries", "table", "bargauge", "stat"}, p.Type) || p.Title == "" || p.Description == "" {
				t.Errorf("%s: type %q, a title and a description needed", where, p.Type)
			}
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v off the 24-column grid", where, g)
			}
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if o, taken := cells[[2]int{x, y}]; taken {
						t.Errorf("%s overlaps panel %d", where, o)
						x, y = g.X+g.W, g.Y+g.H
					}
					cells[[2]int{x, y}] = p.ID
				}
			}
			if p.Datasource == nil || *p.Datasource != ds {
				t.Errorf("%s: datasource %v, want the provisioned %+v", where, p.Datasource, ds)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, q := range p.Targets {
				if q.Datasource == nil || *q.Datasource != ds || q.RefID == "" || q.EditorType != "sql" || q.Format == nil {
					t.Errorf("%s: target %+v: datasource, refId, editorType sql and format needed", where, q)
					continue
				}
				if want := map[string]int{"timeseries": 0, "table": 1}[q.QueryType]; q.Format == nil || *q.Format != want ||
					(q.QueryType == "timeseries") != (p.Type == "timeseries") {
					t.Errorf("%s: queryType %q format %d for a %s panel", where, q.QueryType, *q.Format, p.Type)
				}
				for _, bad := range []string{"_raw", "FINAL", "ioc.", "$__timeInterval"} {
					if strings.Contains(q.RawSQL, bad) {
						t.Errorf("%s: SQL contains %q: analysts read the deduplicated views of the default database "+
							"(docs/clickhouse.md), and 18.16 has no toStartOfInterval", where, bad)
					}
				}
			}
		}
	}
}

// The water boards' stages are the wall's (dashboard.wall.water_stages).
func TestGrafanaWaterStagesAreTheWalls(t *testing.T) {
	var wc dashboard.WallConfig
	wc.Defaults()
	for _, d := range cityBoards(t) {
		if d.UID != "ioc-city-water" {
			continue
		}
		n := 0
		for _, p := range d.Panels {
			th := p.FieldConfig.Defaults.Thresholds
			if th == nil {
				continue
			}
			n++
			var got []float64
			for _, s := range th.Steps {
				if s.Value != nil {
					got = append(got, *s.Value)
				}
			}
			if !slices.Equal(got, wc.WaterStages) {
				t.Errorf("%s: stages %v, the wall's %v", p.Title, got, wc.WaterStages)
			}
			for _, st := range wc.WaterStages {
				if sql := p.Targets[0].RawSQL; strings.Contains(sql, "multiIf") && !strings.Contains(sql, fmt.Sprintf(">= %.1f", st)) {
					t.Errorf("%s: the stage SQL has no bound %.1f", p.Title, st)
				}
			}
		}
		if n == 0 {
			t.Error("no water panel draws the stages")
		}
	}
}

// grafanaMacro matches a macro of the ClickHouse plugin with its arguments.
var grafanaMacro = regexp.MustCompile(`\$__(\w+)(?:\(([^()]*)\))?`)

// expandGrafana expands the plugin's macros (pkg/macros of
// grafana-clickhouse-datasource) for a time range and interval, and the
// dashboard's variables (${name:singlequote}, ${name}, $name: every value,
// as Grafana does for "All").
func expandGrafana(t *testing.T, sql string, from, to time.Time, interval time.Duration, vars map[string][]string) string {
	t.Helper()
	for name, vals := range vars {
		q := make([]string, len(vals))
		for i, v := range vals {
			q[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
		}
		sql = strings.ReplaceAll(sql, "${"+name+":singlequote}", strings.Join(q, ","))
		sql = strings.ReplaceAll(sql, "${"+name+"}", strings.Join(vals, ","))
		sql = regexp.MustCompile(`\$`+name+`\b`).ReplaceAllString(sql, strings.Join(vals, ","))
	}
	dt := func(v time.Time) string { return fmt.Sprintf("toDateTime(%d)", v.Unix()) }
	day := func(v time.Time) string { return fmt.Sprintf("toDate('%s')", v.UTC().Format("2006-01-02")) }
	secs := max(int(interval.Seconds()), 1)
	return grafanaMacro.ReplaceAllStringFunc(sql, func(m string) string {
		g := grafanaMacro.FindStringSubmatch(m)
		arg := strings.TrimSpace(g[2])
		switch g[1] {
		case "timeFilter":
			return fmt.Sprintf("%s >= %s AND %s <= %s", arg, dt(from), arg, dt(to))
		case "dateFilter":
			return fmt.Sprintf("%s >= %s AND %s <= %s", arg, day(from), arg, day(to))
		case "fromTime":
			return dt(from)
		case "toTime":
			return dt(to)
		case "timeInterval":
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", arg, secs)
		case "interval_s":
			return fmt.Sprint(secs)
		}
		t.Errorf("macro %s: not one the test expands (add it as the plugin expands it)", m)
		return m
	})
}

// The columns each panel's query returns, by board uid and panel title.
var cityPanelColumns = map[string]map[string][]string{
	"ioc-city-air": {
		"VN_AQI by ward":                     {"time", "ward", "vn_aqi"},
		"Worst VN_AQI in the range, by ward": {"ward", "worst_vn_aqi"},
		"Hours by VN_AQI band and ward":      {"ward", "good", "moderate", "poor", "bad", "very_bad", "hazardous"},
		"PM2.5 by ward (µg/m³)":              {"time", "ward", "pm25"},
	},
	"ioc-city-water": {
		"Water level by station (m)":    {"time", "device_id", "level_m"},
		"Stations now: level and stage": {"device_id", "ward", "level_m", "stage", "observed"},
		"Water alarms in the range":     {"opened_at", "device_id", "ward", "severity", "state", "message", "acknowledged_by", "resolved_at"},
	},
	"ioc-city-traffic": {
		"Vehicles per minute by ward":  {"time", "ward", "vehicles_per_min"},
		"Average speed by ward (km/h)": {"time", "ward", "speed_kmh"},
		"Counters: busiest first":      {"device_id", "ward", "avg_per_min", "peak_per_min", "readings"},
	},
	"ioc-city-lighting": {
		"Cabinets switched on (%)":   {"time", "ward", "on_pct"},
		"Power drawn by ward (kW)":   {"time", "ward", "kw"},
		"Cabinets reporting a fault": {"device_id", "ward", "fault", "reported"},
		"Cabinets by monitor status": {"ward", "online", "stale", "offline", "unknown", "cabinets"},
	},
	"ioc-city-reform": {
		"Dossiers resolved on time (%)":                          {"time", "on_time_pct"},
		"Dossiers by month":                                      {"time", "received", "resolved", "resolved_late", "returned", "withdrawn"},
		"Dossiers by unit and month":                             {"month", "unit", "received", "resolved", "resolved_late", "on_time_pct"},
		"City People's Committee documents signed digitally (%)": {"time", "signed_pct"},
		"Reform-plan tasks done by month":                        {"time", "plan", "done"},
		"Reform-plan tasks done by main task":                    {"plan_year", "main_task", "done"},
		"Budget revenue by month (VND)":                          {"time", "source", "revenue_vnd"},
		"Portal visits and interactions by month":                {"time", "visits", "interactions"},
		"Procedures by field":                                    {"field", "published", "withdrawn"},
	},
	"ioc-city-dead-letters": {
		"Dead letters by partner": {"time", "partner", "dead_letters"},
		"By partner and reason":   {"partner", "source", "reason", "dead_letters", "latest"},
		"Latest dead letters":     {"received_at", "partner", "reason", "source_topic", "detail", "raw_start"},
	},
}

// deadLetterTopics are the source topics of the test's dead letters (MQTT).
var deadLetterTopics = []string{"sensors/viettel/aq-1", "sensors/viettel/aq-2", "sensors/vnpt/light-1", "city/sensors/vnpt/x",
	"sensors/", "sensors/-bad/x", "sensors", "other/viettel/x", "sensors/viettel"}

// gfDB is a database with the schema and a few rows of every kind the
// boards read.
func gfDB(t *testing.T, now time.Time) (context.Context, driver.Conn) {
	t.Helper()
	ch, conn := chtest.Migrated(t, "ioc_grafana", schema.Migrate)
	db := ch.Database
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ms := now.UnixMilli()
	// ins inserts rows with named columns (a batch: the native protocol
	// takes no inline VALUES from this driver on 18.16).
	ins := func(table, cols string, rows ...[]any) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+"."+table+" ("+cols+")")
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for _, r := range rows {
			if err := b.Append(r...); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}
	tm := func(v int64) time.Time { return time.UnixMilli(v) }
	const cl, tl = "Phường Chiềng Lề", "Phường Tô Hiệu"
	rd := func(dev, partner, ward, metric, kind string, v float64, b uint8, ago time.Duration) []any {
		at := ms - ago.Milliseconds()
		return []any{fmt.Sprintf("%s-%s-%d", dev, metric, at), partner, dev, metric, kind, v, b, tm(at), at, tm(at), at, ward, uint8(1)}
	}
	ins("sensor_readings_raw", "event_id, partner, device_id, metric, value_kind, value, value_bool, observed_at, observed_ms, received_at, received_ms, ward, registered",
		rd("aq-1", "viettel", cl, "vn_aqi", "number", 42, 0, time.Hour), rd("aq-1", "viettel", cl, "vn_aqi", "number", 160, 0, 10*time.Minute),
		rd("aq-2", "vnpt", tl, "vn_aqi", "number", 75, 0, 30*time.Minute), rd("aq-1", "viettel", cl, "pm25", "number", 35.5, 0, 10*time.Minute),
		rd("water-1", "viettel", cl, "level", "number", 1.2, 0, time.Hour), rd("water-1", "viettel", cl, "level", "number", 2.14, 0, 5*time.Minute),
		rd("water-2", "vnpt", tl, "water_level", "number", 0.8, 0, 5*time.Minute),
		rd("traffic-1", "viettel", cl, "vehicles", "number", 70, 0, 20*time.Minute), rd("traffic-1", "viettel", cl, "speed", "number", 38, 0, 20*time.Minute),
		rd("traffic-2", "vnpt", tl, "vehicle_count", "number", 120, 0, 20*time.Minute),
		rd("light-1", "vnpt", cl, "on", "bool", 0, 1, 15*time.Minute), rd("light-1", "vnpt", cl, "power", "number", 850, 0, 15*time.Minute),
		rd("light-1", "vnpt", cl, "fault", "bool", 0, 1, 15*time.Minute), rd("light-2", "viettel", tl, "on", "bool", 0, 0, 15*time.Minute),
		rd("light-2", "viettel", tl, "fault", "bool", 0, 0, 15*time.Minute))
	// The registry in force is the live one (migration 110: the view
	// devices reads device_registry_raw, which stream fills from the
	// registry topic).
	dev := func(id, partner, typ, ward string) []any {
		return []any{id, partner, typ, ward, id, 21.3, 103.9, uint32(300), "[]", "[]", uint8(0), int64(1), "test", "csv", "", now}
	}
	ins("device_registry_raw", "device_id, partner, device_type, ward, name, lat, lon, interval_s, alarms, maintenance, retired, version, actor, source, note, changed_at",
		dev("aq-1", "viettel", "air_quality", cl), dev("aq-2", "vnpt", "air_quality", tl),
		dev("water-1", "viettel", "water_level", cl), dev("water-2", "vnpt", "water_level", tl),
		dev("traffic-1", "viettel", "traffic", cl), dev("traffic-2", "vnpt", "traffic", tl),
		dev("light-1", "vnpt", "streetlight", cl), dev("light-2", "viettel", "streetlight", tl))
	var dls [][]any
	for i, topic := range deadLetterTopics {
		at := ms - int64(i+1)*60_000
		dls = append(dls, []any{fmt.Sprint("dl-", i), tm(at), at, "mqtt", topic, "bad_json", "detail", "raw"})
	}
	dls = append(dls, []any{"dl-http", tm(ms - 30_000), ms - 30_000, "http", "sensors/viettel/x", "bad_value", "detail", "raw"})
	ins("dead_letters_raw", "dl_id, received_at, received_ms, source, source_topic, reason, detail, raw", dls...)
	ins("device_status_events_raw", "event_id, kind, device_id, partner, status, at, at_ms",
		[]any{"s1", "device", "light-1", "vnpt", "offline", tm(ms - 60_000), ms - 60_000})
	ins("alert_events_raw", "event_id, alert_id, rule, kind, severity, state, seq, device_id, partner, ward, message, opened_at, opened_ms, at, at_ms",
		[]any{"e1", "a1", "water_stage", "water_stage", "alert", "open", uint32(1), "water-1", "viettel", cl, "Mực nước Báo động 2: 2.14 m",
			tm(ms - 300_000), ms - 300_000, tm(ms - 300_000), ms - 300_000})
	d21 := func(s string) int64 {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, event.Location)
		if err != nil {
			t.Fatal(err)
		}
		return v.UnixMilli()
	}
	dossier := func(id, state, at, due string) []any {
		a, r, d := d21(at), d21("2021-03-01 08:00"), d21(due)
		return []any{id + "-" + state, id, "tp-01", "ubnd-tp", "online", state, tm(a), a, tm(r), r, tm(d), d, a}
	}
	ins("dossier_events_raw", "event_id, dossier_id, procedure_code, unit, channel, state, at, at_ms, received_at, received_ms, due_at, due_ms, version",
		dossier("hs1", "received", "2021-03-01 08:00", "2021-03-05 17:00"), dossier("hs1", "resolved", "2021-03-03 10:00", "2021-03-05 17:00"),
		dossier("hs2", "received", "2021-03-01 08:00", "2021-03-02 17:00"), dossier("hs2", "resolved", "2021-04-02 10:00", "2021-03-02 17:00"))
	pub, unit := d21("2020-10-01 08:00"), d21("2020-01-01 00:00")
	ins("procedure_events_raw", "event_id, code, field, status, at, at_ms, version", []any{"p1", "tp-01", "justice", "published", tm(pub), pub, int64(1)})
	ins("org_unit_events_raw", "event_id, unit_id, name, kind, one_stop_shop, digital_signature, status, at, at_ms, version",
		[]any{"u1", "ubnd-tp", "UBND", "city", uint8(1), uint8(1), "active", tm(unit), unit, int64(1)})
	d1, d2 := d21("2021-03-10 09:00"), d21("2021-04-10 09:00")
	ins("documents_raw", "event_id, document_id, unit, issued_at, issued_ms, signed, version",
		[]any{"d1", "vb-1", "ubnd-tp", tm(d1), d1, uint8(1), int64(1)}, []any{"d2", "vb-2", "ubnd-tp", tm(d2), d2, uint8(0), int64(1)})
	done := d21("2021-04-20 09:00")
	ins("task_events_raw", "event_id, task_id, plan_year, main_task, owner_unit, state, at, at_ms, version",
		[]any{"t1", "nv-1", uint16(2021), uint8(3), "ubnd-tp", "done", tm(done), done, int64(1)})
	march := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	ins("budget_entries_raw", "event_id, entry_id, type, period, period_start, period_start_ms, year, amount_vnd, source, at_ms, version",
		[]any{"b1", "thu-2021-03", "revenue", "2021-03", march, d21("2021-03-01 00:00"), uint16(2021), int64(30_000_000_000), "land", int64(0), int64(1)})
	ins("portal_traffic_raw", "event_id, day, day_ms, visits, interactions, version",
		[]any{"w1", time.Date(2021, 3, 31, 0, 0, 0, 0, time.UTC), d21("2021-03-31 00:00"), uint64(2710), uint64(205), int64(1)})
	// The boards name no database: the datasource's defaultDatabase is
	// the test's here, and every query runs as an analyst's would, readonly.
	aconn, err := clickhouse.Open(&clickhouse.Options{Addr: ch.Addr, Auth: clickhouse.Auth{Database: db, Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { aconn.Close() })
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"readonly": 1})), aconn
}

// Every panel's SQL runs on the real ClickHouse and returns the columns the
// panel expects (a time column first for a time series), with rows; the
// dead letters' partners are internal/event's reading of the topic.
func TestGrafanaCityBoardsQueries(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ctx, conn := gfDB(t, now)
	from := time.Date(2021, 1, 1, 0, 0, 0, 0, event.Location)
	checked := map[string]bool{}
	for _, d := range cityBoards(t) {
		want, ok := cityPanelColumns[d.UID]
		if !ok {
			t.Errorf("%s: board %s has no expected columns in cityPanelColumns", d.file, d.UID)
			continue
		}
		vars := map[string][]string{}
		for _, v := range d.Templating.List {
			rows, err := conn.Query(ctx, expandGrafana(t, v.Query, from, now, time.Hour, nil))
			if err != nil {
				t.Errorf("%s: variable %s: %v", d.file, v.Name, err)
				continue
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatalf("%s: variable %s: %v", d.file, v.Name, err)
				}
				vars[v.Name] = append(vars[v.Name], s)
			}
			rows.Close()
			if len(vars[v.Name]) == 0 {
				t.Errorf("%s: variable %s has no values", d.file, v.Name)
			}
		}
		for _, p := range d.Panels {
			cols, ok := want[p.Title]
			if !ok {
				t.Errorf("%s: panel %q has no expected columns in cityPanelColumns", d.file, p.Title)
				continue
			}
			checked[d.UID+"/"+p.Title] = true
			for _, q := range p.Targets {
				sql := expandGrafana(t, q.RawSQL, from, now, time.Hour, vars)
				rows, err := conn.Query(ctx, sql)
				if err != nil {
					t.Errorf("%s / %s: %v\n%s", d.file, p.Title, err, sql)
					continue
				}
				var names []string
				for _, c := range rows.ColumnTypes() {
					names = append(names, c.Name())
				}
				first := rows.ColumnTypes()[0].DatabaseTypeName()
				n := 0
				for rows.Next() {
					n++
				}
				err = rows.Err()
				rows.Close()
				switch {
				case err != nil:
					t.Errorf("%s / %s: reading: %v", d.file, p.Title, err)
				case !slices.Equal(names, cols):
					t.Errorf("%s / %s: columns %v, want %v", d.file, p.Title, names, cols)
				case q.QueryType == "timeseries" && !strings.HasPrefix(first, "DateTime"):
					t.Errorf("%s / %s: a time series whose first column is %s", d.file, p.Title, first)
				case n == 0:
					t.Errorf("%s / %s: no rows from the test data", d.file, p.Title)
				}
			}
		}
	}
	for uid, panels := range cityPanelColumns {
		for title := range panels {
			if !checked[uid+"/"+title] {
				t.Errorf("%s: no panel %q (cityPanelColumns lists it)", uid, title)
			}
		}
	}
	t.Run("dead letters by partner read the topic as internal/event does", func(t *testing.T) {
		var sql string
		for _, d := range cityBoards(t) {
			for _, p := range d.Panels {
				if d.UID == "ioc-city-dead-letters" && p.Title == "By partner and reason" {
					sql = expandGrafana(t, p.Targets[0].RawSQL, from, now, time.Hour, nil)
				}
			}
		}
		want := map[string]uint64{"?": 1} // the HTTP one
		for _, topic := range deadLetterTopics {
			p, ok := event.SensorTopicPartner(topic)
			if !ok {
				p = "?"
			}
			want[p]++
		}
		rows, err := conn.Query(ctx, "SELECT partner, sum(dead_letters) FROM ("+sql+") GROUP BY partner")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]uint64{}
		for rows.Next() {
			var p string
			var n uint64
			if err := rows.Scan(&p, &n); err != nil {
				t.Fatal(err)
			}
			got[p] = n
		}
		if !maps.Equal(got, want) {
			t.Errorf("dead letters by partner %v, want %v (event.SensorTopicPartner)", got, want)
		}
	})
	t.Run("the stations' stages", func(t *testing.T) {
		var sql string
		for _, d := range cityBoards(t) {
			for _, p := range d.Panels {
				if p.Title == "Stations now: level and stage" {
					sql = expandGrafana(t, p.Targets[0].RawSQL, from, now, time.Hour, map[string][]string{"station": {"water-1", "water-2"}})
				}
			}
		}
		rows, err := conn.Query(ctx, "SELECT device_id, stage FROM ("+sql+") ORDER BY device_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var d, s string
			if err := rows.Scan(&d, &s); err != nil {
				t.Fatal(err)
			}
			got = append(got, d+"="+s)
		}
		if want := []string{"water-1=Báo động 2", "water-2=Bình thường"}; !slices.Equal(got, want) {
			t.Errorf("stages %v, want %v", got, want)
		}
	})
}
