package registry

import (
	"strings"
	"testing"
	"time"
)

func TestLoadShippedRegistry(t *testing.T) {
	r, err := Load("../../deploy/devices.csv")
	if err != nil {
		t.Fatal(err)
	}
	wards := map[string]bool{}
	for _, d := range r.Devices() {
		wards[d.Ward] = true
		if d.Partner != "viettel" && d.Partner != "vnpt" {
			t.Errorf("%s: partner %q", d.ID, d.Partner)
		}
	}
	if len(wards) != 12 {
		t.Errorf("registry covers %d wards and communes, want Son La's 12", len(wards))
	}
	d := r.Lookup("aq-chieng-le")
	if d == nil || d.Ward != "Phường Chiềng Lề" || d.Interval != time.Minute {
		t.Errorf("aq-chieng-le = %+v", d)
	}
}

func TestParseRejects(t *testing.T) {
	head := "device_id,partner,type,ward,name,lat,lon,interval_s\n"
	for name, body := range map[string]string{
		"wrong header":   "id,partner\n",
		"duplicate":      head + "a,vnpt,t,w,n,1,2,60\na,vnpt,t,w,n,1,2,60\n",
		"bad interval":   head + "a,vnpt,t,w,n,1,2,0\n",
		"bad lat":        head + "a,vnpt,t,w,n,x,2,60\n",
		"missing fields": head + "a,vnpt,t\n",
	} {
		if _, err := Parse(strings.NewReader(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
