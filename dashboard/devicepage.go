package dashboard

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
)

// devicePageRoutes adds the device page's API (web/device.html):
//
//	GET /api/device/{id}          identity and registry, live values, status history, alerts, metrics
//	GET /api/device/{id}/series?metric=pm25&range=24h|7d|30d[&format=csv]
//	                              hourly min, mean, max, count and last of a metric, from the rollups
//
// Both are reads of wall data: the access policy's wall permission; the
// alerts are included only for principals allowed to see alerts.
func (s *Service) devicePageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/device/{id}", s.serveDevice)
	mux.HandleFunc("GET /api/device/{id}/series", s.serveDeviceSeries)
}

// Windows of the device page.
const (
	deviceHistoryWindow = 30 * 24 * time.Hour // status changes and metrics listed
	deviceAlertsWindow  = 90 * 24 * time.Hour
	deviceListLimit     = 200
)

// seriesRanges are the chart ranges of the device page.
var seriesRanges = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// DeviceStatusChange is an entry of the device's status history.
type DeviceStatusChange struct {
	Status   string `json:"status"`
	Previous string `json:"previous"`
	Cause    string `json:"cause"`
	AtMs     int64  `json:"at_ms"`
	LastSeen int64  `json:"last_seen_ms"`
}

// DeviceAlert is one of the device's alerts: its latest transition.
type DeviceAlert struct {
	AlertID   string  `json:"alert_id"`
	Rule      string  `json:"rule"`
	Severity  string  `json:"severity"`
	State     string  `json:"state"`
	Acked     bool    `json:"acked"`
	Message   string  `json:"message"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	OpenedMs  int64   `json:"opened_ms"`
	AtMs      int64   `json:"at_ms"`
	Operator  string  `json:"operator"`
}

// DeviceMetric is a numeric metric the device reported.
type DeviceMetric struct {
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
}

var deviceIDRE = regexp.MustCompile(`^[\p{L}\p{N}._:@-]{1,128}$`)

// deviceOf answers 404 for a device that is not in the registry.
func (s *Service) deviceOf(w http.ResponseWriter, id string) (devMeta, devLive, bool) {
	if !deviceIDRE.MatchString(id) {
		apiError(w, http.StatusBadRequest, "bad_device", "a device id is 1 to 128 letters, digits or . _ : @ -")
		return devMeta{}, devLive{}, false
	}
	m, live, ok := s.wall.deviceInfo(id)
	if !ok {
		apiError(w, http.StatusNotFound, "unknown_device", "no device "+strconv.Quote(id)+" in the registry")
	}
	return m, live, ok
}

// deviceInfo is a registered device's registry entry and a copy of its
// live state.
func (w *wallState) deviceInfo(id string) (devMeta, devLive, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m, ok := w.reg.lookup(id)
	if !ok {
		return devMeta{}, devLive{}, false
	}
	var live devLive
	if d := w.devs.get(id); d != nil {
		live = *d
		live.M = make(map[string]wallMetric, len(d.M))
		for k, v := range d.M {
			live.M[k] = v
		}
	}
	return m, live, true
}

func (s *Service) serveDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	meta, live, ok := s.deviceOf(w, id)
	if !ok {
		return
	}
	out := map[string]any{"server_ms": time.Now().UnixMilli(), "id": id, "registry": meta, "live": live,
		"status_history": []DeviceStatusChange{}, "metrics": []DeviceMetric{}}
	showAlerts := true
	if p, ok := auth.FromContext(r.Context()); ok {
		showAlerts = p.Can(auth.PermAlertsView)
	}
	if showAlerts {
		out["alerts"] = []DeviceAlert{}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	conn, err := s.chConn(ctx)
	if err != nil {
		out["history_error"] = "ClickHouse does not answer: no history, live values only"
		writeWallJSON(w, http.StatusOK, out)
		return
	}
	vars := map[string]any{"WindowS": int(deviceHistoryWindow.Seconds()), "Limit": deviceListLimit}
	var hist []DeviceStatusChange
	err = s.query(ctx, conn, "device_status_history.sql", vars, func(rows driver.Rows) error {
		var c DeviceStatusChange
		if err := rows.Scan(&c.Status, &c.Previous, &c.Cause, &c.AtMs, &c.LastSeen); err != nil {
			return err
		}
		hist = append(hist, c)
		return nil
	}, meta.Partner, id)
	metrics := []DeviceMetric{}
	if err == nil {
		err = s.query(ctx, conn, "device_metrics.sql", vars, func(rows driver.Rows) error {
			var m DeviceMetric
			if err := rows.Scan(&m.Metric, &m.Unit); err != nil {
				return err
			}
			metrics = append(metrics, m)
			return nil
		}, id)
	}
	var alerts []DeviceAlert
	if err == nil && showAlerts {
		avars := map[string]any{"WindowS": int(deviceAlertsWindow.Seconds()), "Limit": deviceListLimit}
		err = s.query(ctx, conn, "device_alerts.sql", avars, func(rows driver.Rows) error {
			var a DeviceAlert
			var acked uint8
			if err := rows.Scan(&a.AlertID, &a.Rule, &a.Severity, &a.State, &acked, &a.Message, &a.Metric, &a.Value, &a.Threshold,
				&a.OpenedMs, &a.AtMs, &a.Operator); err != nil {
				return err
			}
			a.Acked = acked == 1
			alerts = append(alerts, a)
			return nil
		}, id)
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.chFailed(conn)
			s.log.Warn("serving a device page", "device", id, "err", err)
		}
		out["history_error"] = "reading the history from ClickHouse failed; try again"
	}
	// Live numeric metrics not yet in the rollups are charted too.
	known := map[string]bool{}
	for _, m := range metrics {
		known[m.Metric] = true
	}
	for name, v := range live.M {
		if v.V != nil && !known[name] {
			metrics = append(metrics, DeviceMetric{Metric: name, Unit: v.U})
		}
	}
	sort.Slice(metrics, func(i, j int) bool { return metrics[i].Metric < metrics[j].Metric })
	if hist != nil {
		out["status_history"] = hist
	}
	out["metrics"] = metrics
	if showAlerts && alerts != nil {
		out["alerts"] = alerts
	}
	writeWallJSON(w, http.StatusOK, out)
}

// SeriesPoint is an hour of a device's metric: [hour start ms, readings,
// min, mean, max, last].
type SeriesPoint [6]float64

func (s *Service) serveDeviceSeries(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	meta, _, ok := s.deviceOf(w, id)
	if !ok {
		return
	}
	q := r.URL.Query()
	metric, rng := q.Get("metric"), q.Get("range")
	if rng == "" {
		rng = "24h"
	}
	span, ok := seriesRanges[rng]
	if !ok {
		apiError(w, http.StatusBadRequest, "bad_range", "range must be 24h, 7d or 30d")
		return
	}
	if metric == "" || len(metric) > 64 || !utf8.ValidString(metric) {
		apiError(w, http.StatusBadRequest, "bad_metric", "metric is required (at most 64 bytes of UTF-8)")
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		apiError(w, http.StatusBadRequest, "bad_format", "format must be json or csv")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	conn, err := s.chConn(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unreachable", "history is in ClickHouse, which does not answer")
		return
	}
	now := time.Now()
	to := now.Truncate(time.Hour).Add(time.Hour) // the current hour included
	from := to.Add(-span)
	res, err := s.deviceSeries(ctx, conn, meta.Partner, id, metric, from, to)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.chFailed(conn)
			s.log.Warn("serving a device series", "device", id, "metric", metric, "err", err)
		}
		apiError(w, http.StatusBadGateway, "clickhouse_error", "reading the series failed; try again")
		return
	}
	if format == "csv" {
		writeSeriesCSV(w, id, metric, rng, res)
		return
	}
	writeWallJSON(w, http.StatusOK, map[string]any{"server_ms": now.UnixMilli(), "device": id, "metric": metric, "unit": res.unit,
		"range": rng, "step_ms": 3600_000, "from_ms": from.UnixMilli(), "to_ms": to.UnixMilli(),
		"rollup_through_ms": res.rollupThrough * 1000, "source": res.source, "newest_ms": res.newest, "points": res.points})
}

type seriesResult struct {
	points        []SeriesPoint
	newest        int64  // newest observation counted, ms
	rollupThrough int64  // the rollup watermark, Unix seconds (0: no rollups yet)
	source        string // "rollups" (and raw for the open hours) or "raw" when the rollup job never ran
	unit          string
}

// deviceSeries reads a device's hours of a metric in [from, to): the
// closed hours from the rollups, the hours after the rollup watermark
// from the raw readings of that device alone.
func (s *Service) deviceSeries(ctx context.Context, conn driver.Conn, partner, id, metric string, from, to time.Time) (seriesResult, error) {
	res := seriesResult{points: []SeriesPoint{}, source: "rollups"}
	var done uint32
	var states uint64
	if err := s.queryRow(ctx, conn, "rollup_watermark.sql", &done, &states); err != nil {
		return res, fmt.Errorf("reading the rollup watermark: %w", err)
	}
	res.rollupThrough = int64(done)
	rawFrom := max(int64(done), from.Unix())
	if states == 0 {
		res.source, rawFrom = "raw", from.Unix() // no rollups yet: the raw rows of this one device
	}
	add := func(rows driver.Rows) error {
		var hourMs, last int64
		var n uint64
		var mn, mx, sum, lastV float64
		if err := rows.Scan(&hourMs, &n, &mn, &mx, &sum, &lastV, &last); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		res.points = append(res.points, SeriesPoint{float64(hourMs), float64(n), mn, sum / float64(n), mx, lastV})
		res.newest = max(res.newest, last)
		return nil
	}
	if states > 0 && int64(done) > from.Unix() {
		vars := map[string]any{"From": from.Unix(), "To": min(int64(done), to.Unix())}
		if err := s.query(ctx, conn, "device_series.sql", vars, add, id, partner, metric); err != nil {
			return res, fmt.Errorf("reading the hourly rollups: %w", err)
		}
	}
	if rawFrom < to.Unix() {
		if err := s.query(ctx, conn, "device_series_open.sql", map[string]any{"From": rawFrom}, add, partner, id, metric); err != nil {
			return res, fmt.Errorf("reading the open hours: %w", err)
		}
	}
	_, live, _ := s.wall.deviceInfo(id)
	if m, ok := live.M[metric]; ok {
		res.unit = m.U
	}
	return res, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// writeSeriesCSV answers what the chart shows as CSV: one line per hour,
// times in Son La.
func writeSeriesCSV(w http.ResponseWriter, id, metric, rng string, res seriesResult) {
	name := unsafeFileChars.ReplaceAllString(id+"_"+metric+"_"+rng, "_") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"hour_start", "device_id", "metric", "unit", "readings", "min", "mean", "max", "last"})
	f := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for _, p := range res.points {
		t := time.UnixMilli(int64(p[0])).In(event.Location).Format("2006-01-02T15:04:05-07:00")
		_ = cw.Write([]string{t, id, metric, res.unit, strconv.FormatInt(int64(p[1]), 10), f(p[2]), f(p[3]), f(p[4]), f(p[5])})
	}
	cw.Flush()
}
