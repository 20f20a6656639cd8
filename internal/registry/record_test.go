package registry

import (
	"strings"
	"testing"
)

func goodRecord() Record {
	return Record{ID: "water-x", Partner: "viettel", Type: "water_level", Ward: "Xã Chiềng Cọ", Name: "Trạm X", Lat: 21.3, Lon: 103.9,
		IntervalS: 60, Version: 1, Actor: "admin", Source: SourceAdmin}
}

func TestRecordValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Record)
		want string // "" = valid
	}{
		"good":            {func(*Record) {}, ""},
		"bad id":          {func(r *Record) { r.ID = "a/b" }, "device_id"},
		"type":            {func(r *Record) { r.Type = "toaster" }, "type"},
		"no ward":         {func(r *Record) { r.Ward = " " }, "ward is required"},
		"newline in name": {func(r *Record) { r.Name = "a\nb" }, "control character"},
		"position":        {func(r *Record) { r.Lat = 91 }, "position"},
		"interval":        {func(r *Record) { r.IntervalS = 0 }, "interval_s"},
		"source":          {func(r *Record) { r.Source = "magic" }, "source"},
		"levels both ways": {func(r *Record) {
			r.Alarms = []Alarm{{Rule: "water_level", Levels: []Level{{"a", 1, "warning"}, {"b", 2, "alert"}, {"c", 1.5, "critical"}}}}
		}, "rise or all fall"},
		"falling levels ok": {func(r *Record) {
			r.Alarms = []Alarm{{Rule: "water_low", Levels: []Level{{"a", 1, "warning"}, {"b", 0.5, "alert"}}}}
		}, ""},
		"severity": {func(r *Record) { r.Alarms = []Alarm{{Rule: "water_level", Levels: []Level{{"a", 1, "panic"}}}} }, "severity"},
		"rule twice": {func(r *Record) {
			r.Alarms = []Alarm{{Rule: "x", Levels: []Level{{"a", 1, "alert"}}}, {Rule: "x", Levels: []Level{{"a", 1, "alert"}}}}
		}, "twice"},
		"window backwards": {func(r *Record) { r.Maintenance = []Window{{FromMs: 10, ToMs: 5}} }, "after the start"},
		"window too long":  {func(r *Record) { r.Maintenance = []Window{{FromMs: 1, ToMs: 400 * 24 * 3600 * 1000}} }, "longer than a year"},
	} {
		r := goodRecord()
		tc.edit(&r)
		err := r.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error about %q", name, err, tc.want)
		}
	}
	if _, err := Decode([]byte(`{"device_id":"x","surprise":1}`)); err == nil || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestOverlay(t *testing.T) {
	file, err := Parse(strings.NewReader("device_id,partner,type,ward,name,lat,lon,interval_s\n" +
		"a,viettel,rainfall,W,A,21,103,60\nb,vnpt,rainfall,W,B,21,103,60\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := NewOverlay(file)
	ids := func() string {
		var s []string
		for _, d := range o.Registry().Devices() {
			s = append(s, d.ID+":"+d.Name)
		}
		return strings.Join(s, " ")
	}
	if got := ids(); got != "a:A b:B" {
		t.Fatalf("file only: %s", got)
	}
	r := goodRecord()
	r.ID, r.Version = "c", 10
	o.Apply(r)
	edit := RecordOf(file.Lookup("b"))
	edit.Name, edit.Version, edit.Actor, edit.Source = "B2", 11, "x", SourceAdmin
	o.Apply(edit)
	older := edit
	older.Name, older.Version = "B-old", 5
	if o.Apply(older) {
		t.Error("an older record replaced a newer one")
	}
	retired := RecordOf(file.Lookup("a"))
	retired.Retired, retired.Version = true, 12
	o.Apply(retired)
	if got := ids(); got != "b:B2 c:Trạm X" {
		t.Errorf("overlay: %s, want b edited, a retired, c added", got)
	}
	if cur, ok := o.Current("a"); !ok || !cur.Retired {
		t.Errorf("current a: %+v", cur)
	}
}
