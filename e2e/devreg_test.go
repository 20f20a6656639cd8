package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// deviceAdmin is a signed-in admin calling the device registry's API.
type deviceAdmin struct {
	p *person
}

func newDeviceAdmin(t *testing.T) *deviceAdmin {
	t.Helper()
	name, pw := newAccount(t, "devadmin", auth.RoleAdmin)
	p, code := login(t, agent(t), name, pw)
	if code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	return &deviceAdmin{p: p}
}

// call sends a JSON body and decodes the JSON answer; it returns the status.
func (a *deviceAdmin) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp := a.p.do(t, method, path, strings.NewReader(string(b)), http.Header{"X-CSRF-Token": {a.p.csrf},
		"Content-Type": {"application/json"}, "Origin": {pipe.wallURL}})
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && json.Unmarshal(raw, out) != nil {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

type changeAnswer struct {
	Device  registry.Record `json:"device"`
	Applied bool            `json:"applied"`
	Error   string          `json:"error"`
}

func (a *deviceAdmin) change(t *testing.T, method, path string, body any) registry.Record {
	t.Helper()
	var ans changeAnswer
	if code := a.call(t, method, path, body, &ans); code != http.StatusOK || !ans.Applied {
		t.Fatalf("%s %s: %d applied=%v %s", method, path, code, ans.Applied, ans.Error)
	}
	appliedEverywhere(t, ans.Device.Version)
	return ans.Device
}

// appliedEverywhere waits until ingest, stream and the dashboard have
// applied a registry change (ioc_registry_version_ms{role}), as an
// operator would check after a change (docs/operations.md).
func appliedEverywhere(t *testing.T, version int64) {
	t.Helper()
	start := time.Now()
	eventually(t, 30*time.Second, fmt.Sprintf("registry version %d applied by every role", version), func() (bool, string) {
		mfs, err := pipe.metrics.Gather()
		if err != nil {
			return false, err.Error()
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "ioc_registry_version_ms" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "role" {
						got[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			}
		}
		for _, role := range []string{"ingest", "stream", "dashboard"} {
			if int64(got[role]) < version {
				return false, fmt.Sprintf("%v", got)
			}
		}
		return true, ""
	})
	t.Logf("registry change %d applied by every role %s after the API answered", version, time.Since(start).Round(time.Millisecond))
}

// newStation is a water-level station of this run with its own levels.
func newStation(id string, alarms ...registry.Alarm) map[string]any {
	return map[string]any{"device_id": id, "partner": "viettel", "type": "water_level", "ward": "Xã Chiềng Cọ",
		"name": "Trạm mới " + id, "lat": 21.346, "lon": 103.894, "interval_s": 60, "alarms": alarms}
}

// level sends a water level observed at ms.
func (p *publisher) level(t *testing.T, device string, v float64, ms int64) {
	t.Helper()
	p.send(t, "viettel", device, fmt.Sprintf(`{"time": %d, "values": {"level": %v}, "units": {"level": "m"}}`, ms, v))
}

// stored waits until ClickHouse holds the device's reading observed at ms,
// registered (ingest knew the device) or not, and returns its ward.
func stored(t *testing.T, device string, ms int64, registered bool) {
	t.Helper()
	reg := 0
	if registered {
		reg = 1
	}
	eventually(t, 30*time.Second, fmt.Sprintf("reading of %s at %d stored with registered=%d", device, ms, reg), func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE device_id = ? AND observed_ms = ? AND registered = ?", device, ms, uint8(reg))
		return n > 0, fmt.Sprintf("%d rows", n)
	})
}

// openedAlert waits for the alert of a rule on a device that opened at or
// after since, and returns its stage, threshold and opening time.
func openedAlert(t *testing.T, rule, device string, since int64) (stage string, threshold float64, openedMs int64) {
	t.Helper()
	eventually(t, 30*time.Second, "alert "+rule+" on "+device, func() (bool, string) {
		err := pipe.conn.QueryRow(context.Background(), "SELECT stage, threshold, opened_ms FROM "+pipe.ch.Database+
			".alert_events WHERE rule = ? AND subject = ? AND state = 'open' AND opened_ms >= ? ORDER BY opened_ms LIMIT 1",
			rule, device, since).Scan(&stage, &threshold, &openedMs)
		return err == nil, fmt.Sprint(err)
	})
	return stage, threshold, openedMs
}

// A device added from the admin API reports (ingest knows it: its readings
// are registered, with its ward) and alerts at its own level, not the
// rule's, with every role still running; the change is audited and stored.
func TestDeviceAddedFromAdminAlertsWithoutRestart(t *testing.T) {
	admin := newDeviceAdmin(t)
	id := "e2e-new-" + pipe.run
	dev := admin.change(t, "POST", "/api/admin/devices", newStation(id, registry.Alarm{Rule: "water_level",
		Levels: []registry.Level{{Name: "Mức riêng 1", Value: 4.0, Severity: "alert"}}}))
	if dev.Source != registry.SourceAdmin || dev.Actor == "" || dev.Version == 0 {
		t.Errorf("published record %+v", dev)
	}
	// Adding it again is a conflict.
	if code := admin.call(t, "POST", "/api/admin/devices", newStation(id), nil); code != http.StatusConflict {
		t.Errorf("adding %s twice: %d, want 409", id, code)
	}
	p := newPublisher(t)
	t0 := time.Now().Add(-time.Minute).UnixMilli()
	// 3.0 m is above the rule's Báo động 3 (2.5 m) but below the station's
	// own level: no alert.
	p.level(t, id, 3.0, t0)
	stored(t, id, t0, true)
	p.level(t, id, 4.5, t0+1000)
	stage, threshold, opened := openedAlert(t, "water_level", id, t0-60_000)
	if stage != "Mức riêng 1" || threshold != 4.0 || opened != t0+1000 {
		t.Errorf("alert opened at %d (readings at %d, %d) at stage %q threshold %v, want the station's own level 4.0 at the second reading",
			opened, t0, t0+1000, stage, threshold)
	}
	auditedTarget(t, agent(t), "device.add", "ok", "", id)
	eventually(t, 30*time.Second, id+" in {db}.devices", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.devices WHERE device_id = ? AND ward = 'Xã Chiềng Cọ'", id)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	// The wall knows it.
	var list struct {
		Devices []map[string]any `json:"devices"`
	}
	admin.call(t, "GET", "/api/devices", nil, &list)
	found := false
	for _, d := range list.Devices {
		found = found || d["id"] == id
	}
	if !found {
		t.Errorf("GET /api/devices does not list %s", id)
	}
}

// An edit of a station's levels applies at once; a maintenance window
// silences it (and the wall shows it); a retired device's readings are
// unregistered again: all without a restart. A rate rule with per-device
// levels alerts on a fast rise.
func TestDeviceEditMaintenanceRetireWithoutRestart(t *testing.T) {
	admin := newDeviceAdmin(t)
	id := "e2e-edit-" + pipe.run
	dev := admin.change(t, "POST", "/api/admin/devices", newStation(id))
	p := newPublisher(t)
	t0 := time.Now().Add(-10 * time.Minute).UnixMilli()

	// Maintenance from now on for an hour: a reading beyond every level
	// raises nothing.
	now := time.Now().UnixMilli()
	body := newStation(id, registry.Alarm{Rule: "water_level", Levels: []registry.Level{{Name: "Mức sửa 1", Value: 1.0, Severity: "warning"}}},
		registry.Alarm{Rule: "water_rise", Levels: []registry.Level{{Name: "Lên nhanh", Value: 0.5, Severity: "alert"}}})
	body["maintenance"] = []registry.Window{{FromMs: t0, ToMs: now + 3600_000, Note: "thay cảm biến"}}
	body["base_version"] = dev.Version
	dev = admin.change(t, "PUT", "/api/admin/devices/"+id, body)
	// A stale base version is refused.
	if code := admin.call(t, "PUT", "/api/admin/devices/"+id, map[string]any{"device_id": id, "base_version": 1}, nil); code != http.StatusConflict {
		t.Errorf("edit from an old version: %d, want 409", code)
	}
	eventually(t, 10*time.Second, "the wall shows the maintenance", func() (bool, string) {
		var list struct {
			Devices []map[string]any `json:"devices"`
		}
		admin.call(t, "GET", "/api/devices", nil, &list)
		for _, d := range list.Devices {
			if d["id"] == id {
				v, _ := d["maintenance_to_ms"].(float64)
				return int64(v) == now+3600_000, fmt.Sprint(d)
			}
		}
		return false, "not listed"
	})
	p.level(t, id, 1.5, t0)
	stored(t, id, t0, true)

	// The window ends (edit): the next reading beyond the edited level
	// opens the alert, at that reading.
	delete(body, "maintenance")
	body["base_version"] = dev.Version
	dev = admin.change(t, "PUT", "/api/admin/devices/"+id, body)
	p.level(t, id, 1.6, t0+60_000)
	stage, threshold, opened := openedAlert(t, "water_level", id, t0)
	if stage != "Mức sửa 1" || threshold != 1.0 || opened != t0+60_000 {
		t.Errorf("alert at %d stage %q threshold %v: want the edited level 1.0 at the reading after the maintenance (%d), none during it (%d)",
			opened, stage, threshold, t0+60_000, t0)
	}
	// Rate of change: +0.6 m within 30 minutes against its own 0.5.
	p.level(t, id, 2.2, t0+120_000)
	stage, threshold, opened = openedAlert(t, "water_rise", id, t0)
	if stage != "Lên nhanh" || threshold != 0.5 || opened != t0+120_000 {
		t.Errorf("rate alert at %d stage %q threshold %v, want Lên nhanh 0.5 at %d", opened, stage, threshold, t0+120_000)
	}

	// Retired: ingest no longer counts it as registered.
	admin.change(t, "POST", "/api/admin/devices/"+id+"/retire", map[string]any{"note": "dỡ bỏ"})
	auditedTarget(t, agent(t), "device.retire", "ok", "", id)
	// Its open alerts resolve: nobody is paged for a device that is gone.
	eventually(t, 30*time.Second, "the retired device's alerts resolved", func() (bool, string) {
		s := alertStates(t, time.UnixMilli(t0), "water_level", id) + " / " + alertStates(t, time.UnixMilli(t0), "water_rise", id)
		return strings.HasSuffix(strings.Split(s, " / ")[0], "resolved") && strings.HasSuffix(s, "resolved"), s
	})
	eventually(t, 30*time.Second, id+" gone from {db}.devices", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.devices WHERE device_id = ?", id)
		return n == 0, fmt.Sprintf("%d rows", n)
	})
	t1 := time.Now().UnixMilli()
	p.level(t, id, 1.0, t1)
	stored(t, id, t1, false)
	if code := admin.call(t, "PUT", "/api/admin/devices/"+id, newStation(id), nil); code != http.StatusNotFound {
		t.Errorf("editing a retired device: %d, want 404", code)
	}
	var list struct {
		Devices []adminRow `json:"devices"`
	}
	admin.call(t, "GET", "/api/admin/devices", nil, &list)
	for _, d := range list.Devices {
		if d.ID == id && !d.Retired {
			t.Errorf("admin listing shows %s not retired", id)
		}
	}
}

type adminRow struct {
	ID      string `json:"device_id"`
	Retired bool   `json:"retired"`
}

// Non-admins cannot change the registry; bad records get a clear 400.
func TestDeviceChangesNeedAdmin(t *testing.T) {
	name, pw := newAccount(t, "devop", auth.RoleOperator)
	op, _ := login(t, agent(t), name, pw)
	resp := op.do(t, "POST", "/api/admin/devices", strings.NewReader(`{}`), http.Header{"X-CSRF-Token": {op.csrf},
		"Content-Type": {"application/json"}, "Origin": {pipe.wallURL}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator adding a device: %d, want 403", resp.StatusCode)
	}
	admin := newDeviceAdmin(t)
	var ans changeAnswer
	bad := newStation("e2e-bad-"+pipe.run, registry.Alarm{Rule: "water_level", Levels: []registry.Level{{Name: "x", Value: 1, Severity: "panic"}}})
	if code := admin.call(t, "POST", "/api/admin/devices", bad, &ans); code != http.StatusBadRequest || !strings.Contains(ans.Error, "severity") {
		t.Errorf("bad severity: %d %q, want 400 naming the severity", code, ans.Error)
	}
	auditedTarget(t, agent(t), "device.add", "failed", "invalid device record", "e2e-bad-"+pipe.run)
}
