package dashboard

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// historyHourlyMaxHours bounds /api/history?step=hour: 31 days of hours.
const historyHourlyMaxHours = 31 * 24

// serveHistoryHourly answers /api/history?metric=…&hours=…&step=hour: one
// point per hour, [hour start ms, avg, max, n], with the same definition as
// the minute trend, read from the hourly rollups (the hours after the
// rollup watermark from the raw readings), so a month of trend reads 744
// rollup rows per device and metric, not the raw readings. serveHistory
// checked hours (at most historyHourlyMaxHours) and opened conn.
func (s *Service) serveHistoryHourly(ctx context.Context, w http.ResponseWriter, conn driver.Conn, ser *trendSeries, hours float64) {
	now := time.Now()
	to := now.Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-time.Duration(math.Ceil(hours)) * time.Hour)
	points, through, err := s.historyHourly(ctx, conn, ser, from, to)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.chFailed(conn)
			s.log.Warn("serving /api/history?step=hour", "metric", ser.ID, "err", err)
		}
		apiError(w, http.StatusBadGateway, "clickhouse_error", "reading the history failed; try again")
		return
	}
	writeWallJSON(w, http.StatusOK, map[string]any{"metric": ser.ID, "label": ser.Label, "unit": ser.Unit, "hours": hours,
		"step_ms": 3600_000, "rollup_through_ms": through * 1000, "server_ms": now.UnixMilli(), "points": points})
}

// historyHourly reads the hours of a trend in [from, to).
func (s *Service) historyHourly(ctx context.Context, conn driver.Conn, ser *trendSeries, from, to time.Time) ([]HistoryPoint, int64, error) {
	var done uint32
	var states uint64
	if err := s.queryRow(ctx, conn, "rollup_watermark.sql", &done, &states); err != nil {
		return nil, 0, err
	}
	points := []HistoryPoint{}
	add := func(rows driver.Rows) error {
		var h int64
		var sum, mx float64
		var n uint64
		if err := rows.Scan(&h, &sum, &mx, &n); err != nil {
			return err
		}
		if n > 0 {
			points = append(points, HistoryPoint{float64(h), sum / float64(n), mx, float64(n)})
		}
		return nil
	}
	rawFrom := from.Unix()
	if states > 0 {
		rawFrom = max(rawFrom, int64(done))
		if int64(done) > from.Unix() {
			vars := map[string]any{"Metrics": ser.Metrics, "From": from.Unix(), "To": min(int64(done), to.Unix())}
			if err := s.query(ctx, conn, "history_hourly.sql", vars, add); err != nil {
				return nil, 0, err
			}
		}
	}
	if rawFrom < to.Unix() {
		if err := s.query(ctx, conn, "history_hourly_open.sql", map[string]any{"Metrics": ser.Metrics, "From": rawFrom}, add); err != nil {
			return nil, 0, err
		}
	}
	return points, int64(done), nil
}
