package export

import (
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// IndexHeader is the header of the service index breakdown
// (stream/svcindex): one row per unit for its total, one per group and one
// per indicator, with both languages' names, so that a sheet adds up: the
// indicators' points make their group's, the groups' make the total.
var IndexHeader = []string{"period", "rank", "unit_id", "unit_kind", "unit_name", "level", "code", "group", "name_vi", "name_en",
	"applies", "numerator", "denominator", "rate", "points", "max", "rule", "threshold", "source", "as_of"}

// WriteIndex writes the breakdown of scores (a ranking, best first, or a
// single unit) under IndexHeader. An indicator that does not apply to a
// unit has applies 0 and empty figures, never zeros. A total's rate is its
// share of the maximum (Score.Percent / 100), what a ranking sorts by.
func WriteIndex(w *Writer, scores []svcindex.Score) error {
	for i, s := range scores {
		rank := i + 1
		u := s.Unit
		var share any
		if s.Max > 0 {
			share = s.Percent / 100
		}
		if err := w.Row(s.Period.Key, rank, u.ID, u.Kind, u.Name, "total", "total", "", "Tổng điểm", "Total", true,
			nil, nil, share, s.Total, s.Max, "", nil, "", s.AsOf); err != nil {
			return err
		}
		for _, g := range s.Groups {
			if err := w.Row(s.Period.Key, rank, u.ID, u.Kind, u.Name, "group", g.Code, g.Code, g.NameVI, g.NameEN, true,
				nil, nil, nil, g.Points, g.Max, "", nil, "", s.AsOf); err != nil {
				return err
			}
			for _, in := range g.Indicators {
				var num, den, rate, pts, threshold any
				if in.Applies {
					num, den, pts = in.Numerator, in.Denominator, in.Points
					if !in.NoData {
						rate = in.Rate
					}
				}
				if in.Threshold > 0 {
					threshold = in.Threshold
				}
				if err := w.Row(s.Period.Key, rank, u.ID, u.Kind, u.Name, "indicator", in.Code, g.Code, in.NameVI, in.NameEN, in.Applies,
					num, den, rate, pts, in.Max, in.Rule, threshold, in.Source, s.AsOf); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
