package kpi

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// IndexQuery names the tiles of the service index of Decision 766/QĐ-TTg:
// the city's total and its six groups, year to date at each point, as the
// svcindex engine computes them (docs/service-index.md). They are
// recomputed, like the other tiles, when a batch of dossiers, procedures,
// feedback or units is flushed; a late event restates them the same way.
const IndexQuery = "service_index"

var indexKinds = []event.AdminKind{event.KindDossier, event.KindProcedure, event.KindFeedback, event.KindUnit}

func init() {
	Defs = append(Defs, Def{ID: "service_index.total", Query: IndexQuery, External: true, Kinds: indexKinds,
		Group: "service_index", Shape: Count, Target: target(100),
		LabelVI: "Chỉ số phục vụ người dân, doanh nghiệp (QĐ 766)", LabelEN: "Service index (Decision 766/QĐ-TTg)"})
	for _, g := range svcindex.Groups {
		Defs = append(Defs, Def{ID: "service_index." + g.Code, Query: IndexQuery, External: true, Kinds: indexKinds,
			Group: "service_index", Shape: Count, Target: target(g.Max),
			LabelVI: "Chỉ số QĐ 766: " + g.NameVI, LabelEN: "Service index: " + g.NameEN})
	}
}

// rows runs the query of a tile group: its SQL file, or the service index.
func (e *Engine) rows(ctx context.Context, conn driver.Conn, query string, p Params) ([]row, error) {
	if query != IndexQuery {
		return e.query(ctx, conn, query+".sql", p)
	}
	idx, err := svcindex.New(e.cfg.Index, e.ch, conn)
	if err != nil {
		return nil, err
	}
	// The points are independent: scored at once, Parallel at a time.
	from := time.UnixMilli(p.From).In(event.Location)
	scores := make([]svcindex.Score, len(p.points))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.Parallel)
	for i, pt := range p.points {
		g.Go(func() error {
			end := time.UnixMilli(pt + 1).In(event.Location)
			per := svcindex.Period{Kind: svcindex.YTD, Key: fmt.Sprintf("%d-YTD-%s", from.Year(), end.Add(-time.Millisecond).Format("01")),
				Start: from, End: end}
			s, err := idx.Score(gctx, per, "")
			if err != nil {
				return fmt.Errorf("service index tiles at %s: %w", end.Format(time.RFC3339), err)
			}
			scores[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []row
	for i, pt := range p.points {
		s := scores[i]
		// The denominator is the points of the indicators that apply and
		// have data (Max); the target is the group's full points.
		add := func(id string, pts, max, full float64) {
			v, d, t := pts, max, full
			out = append(out, row{tile: id, point: pt, numerator: pts, denominator: &d, value: &v, target: &t})
		}
		add("service_index.total", s.Total, s.Max, 100)
		for i, g := range s.Groups {
			add("service_index."+g.Code, g.Points, g.Max, svcindex.Groups[i].Max)
		}
	}
	return out, nil
}
