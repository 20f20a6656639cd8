package dashboard

import (
	"context"
	"embed"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed admin
var adminFS embed.FS

// NotificationRecord is one row of GET /api/admin/notifications: one
// attempt or decision of the notifier (docs/notifications.md).
type NotificationRecord struct {
	AtMs      int64  `json:"at"`
	Channel   string `json:"channel"`
	Kind      string `json:"channel_kind"`
	AlertID   string `json:"alert_id"`
	Notice    string `json:"notice"`
	Repeat    int    `json:"repeat"`
	Key       string `json:"idempotency_key"`
	Rule      string `json:"rule"`
	Severity  string `json:"severity"`
	Ward      string `json:"ward"`
	Partner   string `json:"partner"`
	Status    string `json:"status"`
	Attempt   int    `json:"attempt"`
	Target    string `json:"target"`
	Error     string `json:"error"`
	LatencyMs uint32 `json:"latency_ms"`
}

// notificationRoutes adds the admins' view of the notifications:
//
//	GET /admin/notifications            the page
//	GET /api/admin/notifications        ?alert=&channel=&status=&hours=24&limit=200
//
// Both are under the admin permission (internal/auth policy: /admin/,
// /api/admin/).
func (s *Service) notificationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/notifications", func(w http.ResponseWriter, r *http.Request) {
		b, _ := adminFS.ReadFile("admin/notifications.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /admin/notifications.js", func(w http.ResponseWriter, r *http.Request) {
		b, _ := adminFS.ReadFile("admin/notifications.js")
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /api/admin/notifications", s.serveNotifications)
}

func (s *Service) serveNotifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, hours := 200, 24.0
	if v, err := strconv.Atoi(q.Get("limit")); err == nil {
		limit = v
	}
	if v, err := strconv.ParseFloat(q.Get("hours"), 64); err == nil {
		hours = v
	}
	if limit < 1 || limit > 5000 || hours <= 0 || hours > 24*400 {
		apiError(w, http.StatusBadRequest, "bad_request", "limit must be 1..5000 and hours 0..9600")
		return
	}
	var where []string
	var args []any
	for _, f := range []struct{ param, column string }{{"alert", "alert_id"}, {"channel", "channel"}, {"status", "status"}, {"rule", "rule"}} {
		if v := q.Get(f.param); v != "" {
			if len(v) > 200 {
				apiError(w, http.StatusBadRequest, "bad_request", f.param+" is too long")
				return
			}
			where = append(where, "AND "+f.column+" = ?")
			args = append(args, v)
		}
	}
	sql, err := s.wallQuery("notifications.sql", map[string]any{"WindowS": int(hours * 3600), "Where": strings.Join(where, " "), "Limit": limit})
	if err != nil {
		apiError(w, http.StatusInternalServerError, "query", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	conn, err := s.chConn(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unavailable", err.Error())
		return
	}
	out := []NotificationRecord{}
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		s.chFailed(conn)
		apiError(w, http.StatusServiceUnavailable, "clickhouse_query", "reading the notification log: "+err.Error())
		return
	}
	defer rows.Close()
	for rows.Next() {
		var x NotificationRecord
		var repeat, attempt uint16
		if err := scanNotification(rows, &x, &repeat, &attempt); err != nil {
			apiError(w, http.StatusInternalServerError, "clickhouse_scan", err.Error())
			return
		}
		x.Repeat, x.Attempt = int(repeat), int(attempt)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_query", err.Error())
		return
	}
	writeWallJSON(w, http.StatusOK, map[string]any{"server_ms": time.Now().UnixMilli(), "notifications": out})
}

func scanNotification(rows driver.Rows, x *NotificationRecord, repeat, attempt *uint16) error {
	return rows.Scan(&x.AtMs, &x.Channel, &x.Kind, &x.AlertID, &x.Notice, repeat, &x.Key, &x.Rule, &x.Severity, &x.Ward, &x.Partner,
		&x.Status, attempt, &x.Target, &x.Error, &x.LatencyMs)
}
