package dashboard

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/export"
	"github.com/sonla-ioc/ioc/report"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

// The KPI page's drill-downs and the leadership's report (kpi.view):
//
//	GET /api/kpis/{id}/breakdown?by=unit|field|main_task|month[&format=csv|xlsx]
//	GET /api/kpis/{id}/dossiers?state=late|near_due[&limit=N][&format=csv|xlsx]   (dossier tiles)
//	GET /api/kpis/report?period=2021-H1&lang=vi|en&format=pdf|csv|xlsx
//
// They run the KPI engine's own queries (stream/kpi) as of the published
// tiles' as_of, so a breakdown adds up to the tile on the page and the
// report of the current period shows the tiles' figures.
func (s *Service) reportRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/kpis/{id}/breakdown", s.serveBreakdown)
	mux.HandleFunc("GET /api/kpis/{id}/dossiers", s.serveDossiers)
	mux.HandleFunc("GET /api/kpis/report", s.serveReport)
	s.exportRoutes(mux)
}

// BreakdownResponse is the body of GET /api/kpis/{id}/breakdown.
type BreakdownResponse struct {
	Tile       string         `json:"tile"`
	By         string         `json:"by"`
	Dimensions []string       `json:"dimensions"`
	AsOfMs     int64          `json:"as_of_ms"`
	Rows       []kpi.DrillRow `json:"rows"`
}

// kpiEngine is an engine for the page's queries: templates only, no
// Kafka, nothing running.
func (s *Service) kpiEngine() (*kpi.Engine, error) {
	return kpi.NewEngine(kpi.Config{}, s.kafka, s.ch, s.log, nil)
}

// tileAsOf is the as_of of the published tile, or of the newest event
// when the tile is not published yet.
func (s *Service) tileAsOf(ctx context.Context, eng *kpi.Engine, id string) (time.Time, error) {
	s.kpis.mu.Lock()
	t, ok := s.kpis.tiles[id]
	s.kpis.mu.Unlock()
	if ok && t.AsOfMs > 0 {
		return kpi.AsOfTime(t.AsOfMs), nil
	}
	conn, err := s.chConn(ctx)
	if err != nil {
		return time.Time{}, err
	}
	wm, have, err := eng.Watermark(ctx, conn, time.Now())
	if err == nil && !have {
		err = errors.New("no administrative events yet")
	}
	return wm, err
}

func (s *Service) serveBreakdown(w http.ResponseWriter, r *http.Request) {
	id, by := r.PathValue("id"), r.URL.Query().Get("by")
	dims := kpi.Dimensions(id)
	if dims == nil {
		apiError(w, http.StatusNotFound, "unknown_tile", "no tile "+strconv.Quote(id))
		return
	}
	if by == "" {
		by = dims[0]
	}
	if !slices.Contains(dims, by) {
		apiError(w, http.StatusBadRequest, "bad_dimension", "tile "+id+" breaks down by "+strings.Join(dims, ", "))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	eng, err := s.kpiEngine()
	if err != nil {
		apiError(w, http.StatusInternalServerError, "kpi_engine", err.Error())
		return
	}
	asOf, err := s.tileAsOf(ctx, eng, id)
	var rows []kpi.DrillRow
	if err == nil {
		var conn driver.Conn
		if conn, err = s.chConn(ctx); err == nil {
			if rows, err = eng.Drill(ctx, conn, id, by, asOf); err != nil {
				s.chFailed(conn)
			}
		}
	}
	if err != nil {
		s.log.Warn("KPI breakdown", "tile", id, "by", by, "err", err)
		apiError(w, http.StatusBadGateway, "clickhouse_error", "computing the breakdown failed; try again")
		return
	}
	if r.URL.Query().Get("format") == "" {
		writeJSON(w, http.StatusOK, BreakdownResponse{Tile: id, By: by, Dimensions: dims, AsOfMs: asOf.UnixMilli(), Rows: rows})
		return
	}
	req, ok := s.exportRequest(w, r, "kpi."+id+"."+by, auth.PermKPI, []string{"tile", "by", "key", "label_vi", "label_en", "kind",
		"value", "numerator", "denominator", "as_of"})
	if !ok {
		return
	}
	export.Serve(w, r, req, func(ew *export.Writer) error {
		for _, row := range rows {
			at := asOf
			if row.Ms > 0 {
				at = kpi.AsOfTime(row.Ms)
			}
			if err := ew.Row(id, by, row.Key, row.LabelVI, row.LabelEN, row.Kind, row.Value, row.Numerator, row.Denominator, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// DossiersResponse is the body of GET /api/kpis/{id}/dossiers.
type DossiersResponse struct {
	State    string        `json:"state"`
	AsOfMs   int64         `json:"as_of_ms"`
	Dossiers []kpi.Dossier `json:"dossiers"`
	// Truncated is set when there were more than limit.
	Truncated bool `json:"truncated"`
}

func (s *Service) serveDossiers(w http.ResponseWriter, r *http.Request) {
	id, state := r.PathValue("id"), r.URL.Query().Get("state")
	if d, ok := kpi.DefOf(id); !ok || d.Query != "dossiers" {
		apiError(w, http.StatusNotFound, "not_a_dossier_tile", "dossier lists belong to the dossiers.* tiles")
		return
	}
	if state == "" {
		state = kpi.StateLate
		if id == "dossiers.near_due" {
			state = kpi.StateNearDue
		}
	}
	if state != kpi.StateLate && state != kpi.StateNearDue {
		apiError(w, http.StatusBadRequest, "bad_state", "state must be late or near_due")
		return
	}
	limit := 1000
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			apiError(w, http.StatusBadRequest, "bad_limit", "limit must be 1..10000 (export the whole list with format=csv or xlsx)")
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	eng, err := s.kpiEngine()
	if err != nil {
		apiError(w, http.StatusInternalServerError, "kpi_engine", err.Error())
		return
	}
	asOf, err := s.tileAsOf(ctx, eng, id)
	if err != nil {
		apiError(w, http.StatusBadGateway, "clickhouse_error", "reading the tiles' as_of failed; try again")
		return
	}
	conn, err := s.chConn(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unreachable", "the dossiers are in ClickHouse, which does not answer")
		return
	}
	if r.URL.Query().Get("format") == "" {
		resp := DossiersResponse{State: state, AsOfMs: asOf.UnixMilli(), Dossiers: []kpi.Dossier{}}
		errFull := errors.New("full")
		err := eng.Dossiers(ctx, conn, state, asOf, func(d kpi.Dossier) error {
			if len(resp.Dossiers) == limit {
				resp.Truncated = true
				return errFull
			}
			resp.Dossiers = append(resp.Dossiers, d)
			return nil
		})
		if err != nil && !errors.Is(err, errFull) {
			s.chFailed(conn)
			s.log.Warn("KPI dossier list", "state", state, "err", err)
			apiError(w, http.StatusBadGateway, "clickhouse_error", "listing the dossiers failed; try again")
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	req, ok := s.exportRequest(w, r, "kpi.dossiers."+state, auth.PermKPI, []string{"dossier_id", "procedure_code", "field", "unit",
		"unit_name", "received_at", "due_at", "resolved_at", "state"})
	if !ok {
		return
	}
	export.Serve(w, r, req, func(ew *export.Writer) error {
		return eng.Dossiers(ctx, conn, state, asOf, func(d kpi.Dossier) error {
			return ew.Row(d.ID, d.Procedure, d.Field, d.Unit, d.UnitName, msTime(d.ReceivedMs), msTime(d.DueMs), msTime(d.ResolvedMs), state)
		})
	})
}

func (s *Service) serveReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang, format := q.Get("lang"), q.Get("format")
	if lang == "" {
		lang = "vi"
	}
	if format == "" {
		format = report.PDF
	}
	p, err := report.ParsePeriod(q.Get("period"))
	if err == nil {
		err = report.CheckOptions(lang, format)
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	pr, _ := auth.FromContext(r.Context())
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	eng, err := s.kpiEngine()
	if err != nil {
		apiError(w, http.StatusInternalServerError, "kpi_engine", err.Error())
		return
	}
	conn, err := s.chConn(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unreachable", "the figures are in ClickHouse, which does not answer")
		return
	}
	s.kpis.mu.Lock()
	published := s.kpis.all()
	s.kpis.mu.Unlock()
	start := time.Now()
	idx, err := s.indexSource(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unreachable", "the figures are in ClickHouse, which does not answer")
		return
	}
	rep, err := report.Build(ctx, report.Source{Engine: eng, Conn: conn, Published: published, Index: idx}, p, start)
	var buf bytes.Buffer
	if err == nil {
		// A report is small (a few hundred rows): made whole, then sent,
		// so that a failure is an error answer, not half a PDF.
		err = rep.Write(&buf, lang, format)
	}
	outcome, reason := audit.OK, ""
	if err != nil {
		outcome, reason = audit.Failed, err.Error()
	}
	s.auth.Audit().Record(audit.Event{Actor: pr.Name, Role: string(pr.Role), Action: "export", Target: "kpi.report." + p.Label,
		Outcome: outcome, Reason: reason, Remote: s.auth.ClientIP(r), UserAgent: r.UserAgent(), Service: "dashboard",
		Detail: "format=" + format + " lang=" + lang + " bytes=" + strconv.Itoa(buf.Len()) + " took=" + time.Since(start).Round(time.Millisecond).String()})
	if err != nil {
		if errors.Is(err, report.ErrNoData) {
			apiError(w, http.StatusNotFound, "no_data", err.Error())
			return
		}
		s.log.Warn("KPI report", "period", p.Label, "err", err)
		apiError(w, http.StatusBadGateway, "report_failed", "making the report failed; try again")
		return
	}
	name := rep.FileName(lang, format)
	w.Header().Set("Content-Type", report.ContentType(format))
	w.Header().Set("Content-Disposition", "attachment; filename=\""+name+"\"; filename*=UTF-8''"+url.PathEscape(name))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Report-As-Of", rep.AsOf.Format(time.RFC3339))
	_, _ = w.Write(buf.Bytes())
}

func auditRefusal(r *http.Request, p auth.Principal, table, why, remote string) audit.Event {
	return audit.Event{Actor: p.Name, Role: string(p.Role), Action: "export", Target: table, Outcome: audit.Denied,
		Reason: "role_not_allowed: " + why, Remote: remote, UserAgent: r.UserAgent(), Service: "dashboard"}
}
