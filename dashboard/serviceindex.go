package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/export"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// The service index of Decision 766/QĐ-TTg (stream/svcindex,
// docs/service-index.md) for the leadership (kpi.view, as the KPI page):
//
//	GET /api/kpis/service-index/score?period=&unit=                    one unit (the city by default)
//	GET /api/kpis/service-index/ranking?period=                        every unit, best total first
//	GET /api/kpis/service-index/trend?unit=&period=&months=12          a unit's monthly scores to period's end
//	GET /api/kpis/service-index/costly?period=&unit=&reason=&limit=    dossiers that cost the unit points [&format=csv|xlsx]
//	GET /api/kpis/service-index/export?period=&unit=&format=csv|xlsx   the breakdown (export permission too)
//	GET /kpi/service-index.html                                        the page (web/service-index.*)
//
// period is a month 2026-11, a quarter 2026-Q4 or the year to date
// 2026-YTD-11 (svcindex.ParsePeriod); without it, the year to date to the
// month of the published index tiles' as_of (what the tiles show), or to
// the current month.

// indexTilePrefix starts the ids of the index's KPI tiles (the total and
// the six groups), which the KPI page links to the index page.
const indexTilePrefix = "service_index."

// indexState holds the index engine the dashboard reads, made on first use.
type indexState struct {
	mu   sync.Mutex
	src  svcindex.Source
	made driver.Conn // the connection of an engine made here (nil: set by SetServiceIndex)
}

// SetServiceIndex sets the index engine the dashboard reads (tests and
// tools; the role makes its own from its ClickHouse settings otherwise).
func (s *Service) SetServiceIndex(src svcindex.Source) {
	s.idx.mu.Lock()
	s.idx.src, s.idx.made = src, nil
	s.idx.mu.Unlock()
}

// indexSource is the engine set, or one made over the dashboard's
// ClickHouse connection with the default settings (feeds.kpi.index of the
// stream role configures the engine that publishes the tiles; the
// defaults are the documented ones).
func (s *Service) indexSource(ctx context.Context) (svcindex.Source, error) {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	if s.idx.src != nil {
		return s.idx.src, nil
	}
	conn, err := s.chConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("the service index is computed in ClickHouse, which does not answer: %w", err)
	}
	eng, err := svcindex.New(svcindex.Config{}, s.ch, conn)
	if err != nil {
		return nil, err
	}
	s.idx.src, s.idx.made = eng, conn
	return eng, nil
}

// indexFailed drops an engine made over a connection that failed, so that
// the next request opens a new one.
func (s *Service) indexFailed() {
	s.idx.mu.Lock()
	conn := s.idx.made
	if conn != nil {
		s.idx.src, s.idx.made = nil, nil
	}
	s.idx.mu.Unlock()
	if conn != nil {
		s.chFailed(conn)
	}
}

// CostlyReasons name, per indicator, the reason (svcindex.Reasons) whose
// dossiers or feedback cost it points: the page's drill-down from an
// indicator to its list. Indicators absent here have no such list.
var CostlyReasons = map[string]string{
	"publicity.synced":              "not_synced",
	"progress.on_time":              "late",
	"payment.paid_online":           "not_paid_online",
	"satisfaction.feedback_on_time": "feedback_late",
	"satisfaction.feedback":         "disliked",
	"satisfaction.dossiers":         "dissatisfied",
	"digitisation.e_result":         "no_e_result",
	"digitisation.digitised":        "not_digitised",
}

// ScoreResponse is the body of GET /api/kpis/service-index/score: the
// score, and for each indicator the reason whose dossiers cost it points
// (none for indicators that no dossier list explains).
type ScoreResponse struct {
	svcindex.Score
	CostlyReasons map[string]string `json:"costly_reasons"`
}

// RankingResponse is the body of GET /api/kpis/service-index/ranking.
type RankingResponse struct {
	Period svcindex.Period  `json:"period"`
	Units  []svcindex.Score `json:"units"`
}

// TrendResponse is the body of GET /api/kpis/service-index/trend.
type TrendResponse struct {
	Unit   string           `json:"unit"`
	Months []svcindex.Score `json:"months"`
}

// CostlyResponse is the body of GET /api/kpis/service-index/costly.
type CostlyResponse struct {
	Period    svcindex.Period   `json:"period"`
	Unit      string            `json:"unit"`
	Reason    string            `json:"reason"`
	Dossiers  []svcindex.Costly `json:"dossiers"`
	Truncated bool              `json:"truncated"`
}

func (s *Service) indexRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/kpis/service-index/score", s.serveIndexScore)
	mux.HandleFunc("GET /api/kpis/service-index/ranking", s.serveIndexRanking)
	mux.HandleFunc("GET /api/kpis/service-index/trend", s.serveIndexTrend)
	mux.HandleFunc("GET /api/kpis/service-index/costly", s.serveIndexCostly)
	mux.HandleFunc("GET /api/kpis/service-index/export", s.serveIndexExport)
}

// indexPeriod reads ?period=, or the default period.
func (s *Service) indexPeriod(r *http.Request) (svcindex.Period, error) {
	if v := r.URL.Query().Get("period"); v != "" {
		return svcindex.ParsePeriod(v)
	}
	at := time.Now()
	s.kpis.mu.Lock()
	for id, t := range s.kpis.tiles {
		if strings.HasPrefix(id, indexTilePrefix) && t.AsOfMs > 0 {
			at = time.UnixMilli(t.AsOfMs)
			break
		}
	}
	s.kpis.mu.Unlock()
	at = at.In(event.Location)
	return svcindex.YTDPeriod(at.Year(), at.Month()), nil
}

// indexCall runs a read of the index with the request's period; false when
// it answered an error already.
func (s *Service) indexCall(w http.ResponseWriter, r *http.Request, timeout time.Duration,
	read func(ctx context.Context, src svcindex.Source, p svcindex.Period) error) bool {
	p, err := s.indexPeriod(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_period", err.Error())
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	src, err := s.indexSource(ctx)
	if err != nil {
		s.log.Warn("service index", "err", err)
		apiError(w, http.StatusServiceUnavailable, "clickhouse_unreachable", "the service index is computed in ClickHouse, which does not answer; try again")
		return false
	}
	if err := read(ctx, src, p); err != nil {
		var bad badIndexRequest
		if errors.As(err, &bad) {
			apiError(w, http.StatusBadRequest, bad.code, bad.msg)
			return false
		}
		if strings.Contains(err.Error(), "not in the unit registry") {
			apiError(w, http.StatusNotFound, "unknown_unit", err.Error())
			return false
		}
		s.indexFailed()
		s.log.Warn("service index", "path", r.URL.Path, "period", p.Key, "err", err)
		apiError(w, http.StatusBadGateway, "index_failed", "computing the service index failed (is ClickHouse up?); try again")
		return false
	}
	return true
}

type badIndexRequest struct{ code, msg string }

func (b badIndexRequest) Error() string { return b.msg }

func indexUnit(r *http.Request) string {
	u := strings.TrimSpace(r.URL.Query().Get("unit"))
	if u == "" {
		return "city"
	}
	return u
}

func (s *Service) serveIndexScore(w http.ResponseWriter, r *http.Request) {
	var resp ScoreResponse
	if s.indexCall(w, r, time.Minute, func(ctx context.Context, src svcindex.Source, p svcindex.Period) error {
		sc, err := src.Score(ctx, p, indexUnit(r))
		resp = ScoreResponse{Score: sc, CostlyReasons: costlyReasons(sc)}
		return err
	}) {
		writeJSON(w, http.StatusOK, resp)
	}
}

// costlyReasons maps each indicator of a score that lost points to the
// reason of its dossier list.
func costlyReasons(sc svcindex.Score) map[string]string {
	out := map[string]string{}
	for _, g := range sc.Groups {
		for _, in := range g.Indicators {
			if reason, ok := CostlyReasons[in.Code]; ok && in.Applies && !in.NoData && in.Points < in.Max-1e-9 {
				out[in.Code] = reason
			}
		}
	}
	return out
}

func (s *Service) serveIndexRanking(w http.ResponseWriter, r *http.Request) {
	var resp RankingResponse
	if s.indexCall(w, r, time.Minute, func(ctx context.Context, src svcindex.Source, p svcindex.Period) error {
		units, err := src.Ranking(ctx, p)
		if units == nil {
			units = []svcindex.Score{}
		}
		resp = RankingResponse{Period: p, Units: units}
		return err
	}) {
		writeJSON(w, http.StatusOK, resp)
	}
}

func (s *Service) serveIndexTrend(w http.ResponseWriter, r *http.Request) {
	var resp TrendResponse
	if s.indexCall(w, r, time.Minute, func(ctx context.Context, src svcindex.Source, p svcindex.Period) error {
		months := 12
		if v := r.URL.Query().Get("months"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 36 {
				return badIndexRequest{"bad_months", "months must be 1..36"}
			}
			months = n
		}
		// The trend ends with the last month of the period.
		last := p.End.In(event.Location).AddDate(0, 0, -1)
		end := svcindex.MonthPeriod(last.Year(), last.Month())
		list, err := src.Trend(ctx, indexUnit(r), end, months)
		if list == nil {
			list = []svcindex.Score{}
		}
		resp = TrendResponse{Unit: indexUnit(r), Months: list}
		return err
	}) {
		writeJSON(w, http.StatusOK, resp)
	}
}

// maxCostly is the longest list svcindex.Engine.Costly gives.
const maxCostly = 10000

func validReason(reason string) bool { return slices.Contains(svcindex.Reasons, reason) }

func (s *Service) serveIndexCostly(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reason := q.Get("reason")
	if !validReason(reason) {
		apiError(w, http.StatusBadRequest, "bad_reason", "reason must be one of "+strings.Join(svcindex.Reasons, ", "))
		return
	}
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxCostly {
			apiError(w, http.StatusBadRequest, "bad_limit", "limit must be 1..10000 (the file of format=csv or xlsx has up to 10000)")
			return
		}
		limit = n
	}
	unit := indexUnit(r)
	if q.Get("format") != "" {
		limit = maxCostly // a file holds as many as the engine lists
	}
	var resp CostlyResponse
	if !s.indexCall(w, r, 5*time.Minute, func(ctx context.Context, src svcindex.Source, p svcindex.Period) error {
		// One more than shown tells whether there are more.
		list, err := src.Costly(ctx, p, unit, reason, min(limit+1, maxCostly))
		if list == nil {
			list = []svcindex.Costly{}
		}
		resp = CostlyResponse{Period: p, Unit: unit, Reason: reason, Dossiers: list}
		if len(list) > limit {
			resp.Dossiers, resp.Truncated = list[:limit], true
		} else if len(list) == maxCostly {
			resp.Truncated = true
		}
		return err
	}) {
		return
	}
	if q.Get("format") == "" {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	req, ok := s.exportRequest(w, r, "service_index.costly."+reason+"."+unit, auth.PermKPI, []string{"period", "dossier_id", "unit",
		"procedure_code", "reason", "received_at", "due_at"})
	if !ok {
		return
	}
	export.Serve(w, r, req, func(ew *export.Writer) error {
		for _, d := range resp.Dossiers {
			if err := ew.Row(resp.Period.Key, d.ID, d.Unit, d.ProcedureCode, d.Reason, d.ReceivedAt, d.DueAt); err != nil {
				return err
			}
		}
		return nil
	})
}

// serveIndexExport exports the breakdown of a period: every unit ranked
// (or ?unit= alone) with its groups and indicators (export.WriteIndex).
func (s *Service) serveIndexExport(w http.ResponseWriter, r *http.Request) {
	var scores []svcindex.Score
	var key string
	if !s.indexCall(w, r, 5*time.Minute, func(ctx context.Context, src svcindex.Source, p svcindex.Period) error {
		key = p.Key
		if u := r.URL.Query().Get("unit"); u != "" {
			sc, err := src.Score(ctx, p, u)
			scores = []svcindex.Score{sc}
			return err
		}
		var err error
		scores, err = src.Ranking(ctx, p)
		return err
	}) {
		return
	}
	req, ok := s.exportRequest(w, r, "service_index."+key, auth.PermKPI, export.IndexHeader)
	if !ok {
		return
	}
	export.Serve(w, r, req, func(ew *export.Writer) error { return export.WriteIndex(ew, scores) })
}
