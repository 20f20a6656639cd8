package dashboard

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/export"
)

// Exports of the tables the dashboard shows, CSV or XLSX (?format=),
// streamed from ClickHouse through internal/export, each audited:
//
//	GET /api/export/alerts?state=&severity=&device=&ward=&since=&until=   (alerts.view)
//	GET /api/export/dead-letters?reason=&source=&since=&until=           (admin)
//	GET /api/export/devices                                              (export)
//	GET /api/export/readings?device=ID&metric=&since=&until=             (export)
//	GET /api/kpis/{id}/breakdown?by=…&format=csv|xlsx                    (kpi.view; reports.go)
//	GET /api/kpis/{id}/dossiers?state=late|near_due&format=csv|xlsx      (kpi.view; reports.go)
//	GET /api/admin/audit/export                                          (admin; internal/auth)
//
// The access policy (internal/auth/policy.go) lets /api/export/… through
// with the export permission; each table then needs its own permission
// too (exportPerm), so an export never shows more than the page does.
func (s *Service) exportRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/export/alerts", s.exportAlerts)
	mux.HandleFunc("GET /api/export/dead-letters", s.exportDeadLetters)
	mux.HandleFunc("GET /api/export/devices", s.exportDevices)
	mux.HandleFunc("GET /api/export/readings", s.exportReadings)
}

// exportRequest checks the principal's permission for a table and says
// who exports it; false when refused (answered already).
func (s *Service) exportRequest(w http.ResponseWriter, r *http.Request, table string, perm auth.Permission, header []string) (export.Request, bool) {
	p, ok := auth.FromContext(r.Context())
	if !ok || !p.Can(perm) || !p.Can(auth.PermExport) {
		why := "the export of " + table + " needs the permission " + string(perm)
		if ok {
			s.auth.Audit().Record(auditRefusal(r, p, table, why, s.auth.ClientIP(r)))
		}
		apiError(w, http.StatusForbidden, "forbidden", why)
		return export.Request{}, false
	}
	return export.Request{Table: table, Sheet: table, Header: header, Actor: p.Name, Role: string(p.Role),
		Remote: s.auth.ClientIP(r), Audit: s.auth.Audit(), Service: "dashboard", Log: s.log}, true
}

// timeBounds reads ?since= and ?until= (RFC 3339, or epoch ms); the
// default is the last day-span given.
func timeBounds(r *http.Request, defaultSpan time.Duration) (from, to int64, err error) {
	q := r.URL.Query()
	to = time.Now().UnixMilli()
	from = to - defaultSpan.Milliseconds()
	parse := func(name string, dst *int64) error {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			*dst = ms
			return nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errors.New(name + " must be an RFC 3339 time (2021-06-30T17:00:00+07:00) or epoch milliseconds")
		}
		*dst = t.UnixMilli()
		return nil
	}
	if err := parse("since", &from); err != nil {
		return 0, 0, err
	}
	if err := parse("until", &to); err != nil {
		return 0, 0, err
	}
	if from > to {
		return 0, 0, errors.New("since is after until")
	}
	return from, to, nil
}

func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).In(event.Location)
}

// exportQuery streams the rows of a query into an export.
func (s *Service) exportQuery(w http.ResponseWriter, r *http.Request, req export.Request, name string, args []any,
	row func(driver.Rows, *export.Writer) error) {
	q, err := s.wallQuery(name, nil)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "query", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Minute)
	defer cancel()
	conn, err := s.chConn(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unreachable", "the table is in ClickHouse, which does not answer; try again")
		return
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		s.chFailed(conn)
		s.log.Warn("export query", "table", req.Table, "err", err)
		apiError(w, http.StatusBadGateway, "clickhouse_error", "reading "+req.Table+" failed; try again")
		return
	}
	defer rows.Close()
	export.Serve(w, r, req, func(ew *export.Writer) error {
		for rows.Next() {
			if err := row(rows, ew); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

func (s *Service) exportAlerts(w http.ResponseWriter, r *http.Request) {
	req, ok := s.exportRequest(w, r, "alerts", auth.PermAlertsView, []string{"alert_id", "rule", "kind", "severity", "state", "level",
		"acked", "subject", "device_id", "partner", "ward", "metric", "value", "threshold", "stage", "message", "opened_at", "last_change_at",
		"operator", "note"})
	if !ok {
		return
	}
	from, to, err := timeBounds(r, 30*24*time.Hour)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_time", err.Error())
		return
	}
	q := r.URL.Query()
	args := []any{from, to}
	for _, k := range []string{"state", "severity", "device", "ward"} {
		v := q.Get(k)
		args = append(args, v, v)
	}
	s.exportQuery(w, r, req, "export_alerts.sql", args, func(rows driver.Rows, ew *export.Writer) error {
		var id, rule, kind, sev, state, subject, dev, partner, ward, metric, stage, msg, op, note string
		var level, acked uint8
		var value, threshold float64
		var opened, at int64
		if err := rows.Scan(&id, &rule, &kind, &sev, &state, &level, &acked, &subject, &dev, &partner, &ward, &metric, &value,
			&threshold, &stage, &msg, &opened, &at, &op, &note); err != nil {
			return err
		}
		return ew.Row(id, rule, kind, sev, state, int(level), acked == 1, subject, dev, partner, ward, metric, finite(value),
			finite(threshold), stage, msg, msTime(opened), msTime(at), op, note)
	})
}

// finite leaves NaN and infinities out of a sheet.
func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func (s *Service) exportDeadLetters(w http.ResponseWriter, r *http.Request) {
	req, ok := s.exportRequest(w, r, "dead_letters", auth.PermAdmin, []string{"dl_id", "received_at", "source", "source_topic",
		"reason", "detail", "raw"})
	if !ok {
		return
	}
	from, to, err := timeBounds(r, 7*24*time.Hour)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_time", err.Error())
		return
	}
	q := r.URL.Query()
	args := []any{from, to, q.Get("reason"), q.Get("reason"), q.Get("source"), q.Get("source")}
	s.exportQuery(w, r, req, "export_dead_letters.sql", args, func(rows driver.Rows, ew *export.Writer) error {
		var id, src, topic, why, detail, raw string
		var at int64
		if err := rows.Scan(&id, &at, &src, &topic, &why, &detail, &raw); err != nil {
			return err
		}
		return ew.Row(id, msTime(at), src, topic, why, detail, raw)
	})
}

func (s *Service) exportDevices(w http.ResponseWriter, r *http.Request) {
	req, ok := s.exportRequest(w, r, "devices", auth.PermWall, []string{"id", "partner", "type", "ward", "name", "lat", "lon",
		"interval_s", "status", "since", "last_reading"})
	if !ok {
		return
	}
	// The registry as the wall holds it (bounded by dashboard.max_keys).
	list := s.wall.devicesList()
	export.Serve(w, r, req, func(ew *export.Writer) error {
		for _, d := range list {
			since, _ := d["since_ms"].(int64)
			last, _ := d["last_ms"].(int64)
			if err := ew.Row(d["id"], d["partner"], d["type"], d["ward"], d["name"], d["lat"], d["lon"], d["interval_s"], d["status"],
				msTime(since), msTime(last)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) exportReadings(w http.ResponseWriter, r *http.Request) {
	dev := strings.TrimSpace(r.URL.Query().Get("device"))
	if dev == "" {
		apiError(w, http.StatusBadRequest, "device_required", "?device=ID names the device whose readings to export")
		return
	}
	req, ok := s.exportRequest(w, r, "readings."+dev, auth.PermWall, []string{"device_id", "metric", "observed_at", "partner", "kind",
		"value", "value_string", "value_bool", "unit", "received_at", "ward"})
	if !ok {
		return
	}
	from, to, err := timeBounds(r, 24*time.Hour)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_time", err.Error())
		return
	}
	metric := r.URL.Query().Get("metric")
	s.exportQuery(w, r, req, "export_readings.sql", []any{dev, from / 1000, to/1000 + 1, from, to, metric, metric},
		func(rows driver.Rows, ew *export.Writer) error {
			var m, partner, kind, vs, unit, ward string
			var obs, rcv int64
			var v float64
			var vb uint8
			if err := rows.Scan(&m, &obs, &partner, &kind, &v, &vs, &vb, &unit, &rcv, &ward); err != nil {
				return err
			}
			var value, str, b any
			switch kind {
			case "number":
				value = finite(v)
			case "string":
				str = vs
			case "bool":
				b = vb == 1
			}
			return ew.Row(dev, m, msTime(obs), partner, kind, value, str, b, unit, msTime(rcv), ward)
		})
}
