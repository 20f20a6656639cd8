package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
)

// wallRoutes adds the wall's HTTP API:
//
//	GET  /api/history?metric=aqi|water|rain|traffic&hours=6  trend minutes from ClickHouse
//	GET  /api/history?metric=…&hours=720&step=hour          trend hours from the rollups
//	GET  /api/alerts                       open alerts and those resolved lately
//	POST /api/alerts/{id}/ack              acknowledge: {"operator": "…", "note": "…"}
//	GET  /api/devices                      the registry with each device's status
//	GET  /api/devices/unregistered         devices that report without being declared
//
// The access policy (internal/auth) decides who may call each.
func (s *Service) wallRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/history", s.serveHistory)
	mux.HandleFunc("GET /api/alerts", s.serveAlerts)
	mux.HandleFunc("POST /api/alerts/{id}/ack", s.serveAck)
	mux.HandleFunc("GET /api/devices", func(w http.ResponseWriter, r *http.Request) {
		writeWallJSON(w, http.StatusOK, map[string]any{"server_ms": time.Now().UnixMilli(), "devices": s.wall.devicesList()})
	})
	mux.HandleFunc("GET /api/devices/unregistered", s.serveUnregistered)
}

func writeWallJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeWallJSON(w, status, map[string]string{"error": code, "message": msg})
}

// HistoryPoint is a minute of a trend: [minute start ms, avg, max, count].
type HistoryPoint [4]float64

// serveHistory answers the trend of the last hours from ClickHouse, with
// the same definition as the wall's live minutes, so that the chart loads
// history and continues live with no gap and no overlap: the client keeps
// one point per minute, live minutes replacing loaded ones.
func (s *Service) serveHistory(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("metric")
	var ser *trendSeries
	for i := range trendSeriesList {
		if trendSeriesList[i].ID == id {
			ser = &trendSeriesList[i]
		}
	}
	if ser == nil {
		ids := make([]string, len(trendSeriesList))
		for i, t := range trendSeriesList {
			ids[i] = t.ID
		}
		apiError(w, http.StatusBadRequest, "bad_metric", "metric must be one of "+strings.Join(ids, ", "))
		return
	}
	hourly := r.URL.Query().Get("step") == "hour"
	def, most := 6.0, s.cfg.Wall.HistoryMaxHours
	rule := "hours must be a number above 0 and at most " + strconv.Itoa(most) + " (dashboard.wall.history_max_hours)"
	if hourly {
		def, most = 24, historyHourlyMaxHours
		rule = "with step=hour, hours must be a number above 0 and at most " + strconv.Itoa(most)
	}
	hours, ok := historyHours(w, r, def, most, rule)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	conn, err := s.chConn(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unreachable", "history is in ClickHouse, which does not answer")
		return
	}
	if hourly {
		s.serveHistoryHourly(ctx, w, conn, ser, hours) // hourly points from the rollups (historyhourly.go)
		return
	}
	points := []HistoryPoint{}
	err = s.query(ctx, conn, "trend.sql", map[string]any{"Metrics": ser.Metrics, "WindowS": int(hours * 3600), "CutoffMs": 0}, func(rows driver.Rows) error {
		var minute, n uint64
		var sum, mx float64
		if err := rows.Scan(&minute, &sum, &mx, &n); err != nil {
			return err
		}
		avg := 0.0
		if n > 0 {
			avg = sum / float64(n)
		}
		points = append(points, HistoryPoint{float64(minute), avg, mx, float64(n)})
		return nil
	})
	if err != nil {
		s.chFailed(conn)
		apiError(w, http.StatusBadGateway, "clickhouse_error", "reading the history failed; try again")
		s.log.Warn("serving /api/history", "metric", id, "err", err)
		return
	}
	writeWallJSON(w, http.StatusOK, map[string]any{"metric": ser.ID, "label": ser.Label, "unit": ser.Unit,
		"hours": hours, "server_ms": time.Now().UnixMilli(), "points": points})
}

// historyHours reads the hours parameter of /api/history: def when there
// is none, else a finite number above 0 and at most max. Anything else is
// answered 400 with rule (what hours must be) and gives false.
func historyHours(w http.ResponseWriter, r *http.Request, def float64, max int, rule string) (float64, bool) {
	h := r.URL.Query().Get("hours")
	if h == "" {
		return def, true
	}
	v, err := strconv.ParseFloat(h, 64)
	// NaN passes every comparison and ParseFloat reads "NaN", "Inf" and
	// "infinity": refuse anything that is not a finite number.
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || !(v > 0 && v <= float64(max)) {
		apiError(w, http.StatusBadRequest, "bad_hours", rule+"; got "+strconv.Quote(truncate(h, 40)))
		return 0, false
	}
	return v, true
}

func (s *Service) serveAlerts(w http.ResponseWriter, r *http.Request) {
	writeWallJSON(w, http.StatusOK, map[string]any{"server_ms": time.Now().UnixMilli(), "alerts": s.wall.alertsList()})
}

// AckRequest is the body of POST /api/alerts/{id}/ack.
type AckRequest struct {
	Operator string `json:"operator"`
	Note     string `json:"note"`
}

// serveAck turns an operator's acknowledgement into a command on
// ioc.alert.commands.v1; the stream's monitor applies it and the
// acknowledged transition comes back on the alerts channel. The operator
// is the signed-in person; the body's name is used only without one
// (dashboard.auth.dev_open).
func (s *Service) serveAck(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req AckRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<10))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		s.v2.m.acks.WithLabelValues("bad_request").Inc()
		apiError(w, http.StatusBadRequest, "bad_request", `the body must be JSON: {"operator": "…", "note": "…"}`)
		return
	}
	operator := strings.TrimSpace(req.Operator)
	if p, ok := auth.FromContext(r.Context()); ok && p.Kind != "anonymous" && p.Name != "" {
		operator = p.Name
	}
	note := strings.TrimSpace(req.Note)
	switch {
	case operator == "":
		apiError(w, http.StatusBadRequest, "operator_required", "an acknowledgement needs the operator's name")
		return
	case !utf8.ValidString(operator) || !utf8.ValidString(note) || len(operator) > event.MaxOperatorLen || len(note) > event.MaxNoteLen:
		apiError(w, http.StatusBadRequest, "too_long", "operator at most 80 bytes, note at most 500, UTF-8")
		return
	}
	ev, known, open := s.wall.openAlert(id)
	switch {
	case !known:
		s.v2.m.acks.WithLabelValues("unknown").Inc()
		apiError(w, http.StatusNotFound, "unknown_alert", "no such alert on this wall")
		return
	case !open:
		s.v2.m.acks.WithLabelValues("resolved").Inc()
		apiError(w, http.StatusConflict, "resolved", "the alert is resolved already")
		return
	case ev.Acked:
		writeWallJSON(w, http.StatusOK, map[string]any{"alert": id, "state": ev.State, "operator": ev.Operator, "already": true})
		return
	}
	cmd := event.AlertCommand{ID: randomID(), AlertID: id, Action: "ack", Operator: operator, Note: note,
		AtMs: time.Now().UnixMilli(), Source: "dashboard " + r.RemoteAddr}
	b, _ := json.Marshal(cmd)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	err = s.kafkaWriter().WriteMessages(ctx, kafka.Message{Topic: s.kafka.Topic(event.TopicAlertCommands), Key: []byte(id), Value: b})
	if err != nil {
		s.v2.m.acks.WithLabelValues("kafka_error").Inc()
		s.log.Warn("producing an alert acknowledgement", "alert", id, "err", err)
		apiError(w, http.StatusServiceUnavailable, "kafka_unavailable", "the acknowledgement could not be recorded; try again")
		return
	}
	s.v2.m.acks.WithLabelValues("accepted").Inc()
	s.log.Info("alert acknowledgement sent", "alert", id, "operator", operator)
	writeWallJSON(w, http.StatusAccepted, map[string]any{"alert": id, "command": cmd.ID, "state": "pending", "operator": operator})
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// UnregisteredDevice is an entry of GET /api/devices/unregistered.
type UnregisteredDevice struct {
	Partner  string   `json:"partner"`
	DeviceID string   `json:"device_id"`
	FirstMs  int64    `json:"first_ms"`
	LastMs   int64    `json:"last_ms"`
	Readings uint64   `json:"readings"`
	Metrics  []string `json:"metrics"`
}

func (s *Service) serveUnregistered(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	conn, err := s.chConn(ctx)
	if err == nil {
		out := []UnregisteredDevice{}
		err = s.query(ctx, conn, "unregistered.sql", map[string]any{"Limit": 1000}, func(rows driver.Rows) error {
			var d UnregisteredDevice
			if err := rows.Scan(&d.Partner, &d.DeviceID, &d.FirstMs, &d.LastMs, &d.Readings, &d.Metrics); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
		if err == nil {
			writeWallJSON(w, http.StatusOK, map[string]any{"server_ms": time.Now().UnixMilli(), "source": "clickhouse", "devices": out})
			return
		}
		s.chFailed(conn)
	}
	if !errors.Is(err, context.Canceled) {
		s.log.Warn("listing unregistered devices from clickhouse; answering what the wall saw", "err", err)
	}
	writeWallJSON(w, http.StatusOK, map[string]any{"server_ms": time.Now().UnixMilli(), "source": "live", "devices": s.wall.unregisteredList()})
}
