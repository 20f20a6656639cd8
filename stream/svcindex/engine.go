package svcindex

import (
	"context"
	"embed"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

//go:embed sql/*.sql
var sqlFS embed.FS

// SQL returns the embedded text of a query file (for docs and tests).
func SQL(name string) (string, error) {
	b, err := sqlFS.ReadFile("sql/" + name)
	return string(b), err
}

// Reasons are the reasons Costly accepts.
var Reasons = []string{"late", "not_digitised", "not_paid_online", "not_synced", "no_e_result", "dissatisfied", "feedback_late", "disliked"}

// Engine computes the index from ClickHouse. It implements Source.
type Engine struct {
	cfg  Config
	ch   chconn.Config
	conn driver.Conn
	tmpl *sqltmpl.Set
	// Now is the clock (tests set it): a period still running is scored
	// up to it.
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]seenScore // unit|period → what was last computed
}

type seenScore struct {
	total    float64
	restated bool
}

var _ Source = (*Engine)(nil)

// New parses the embedded SQL and checks the configuration.
func New(cfg Config, ch chconn.Config, conn driver.Conn) (*Engine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := sqltmpl.Parse(sqlFS, &ch, nil, "sql/*.sql")
	if err != nil {
		return nil, fmt.Errorf("parsing the service index queries: %w", err)
	}
	return &Engine{cfg: cfg, ch: ch, conn: conn, tmpl: tmpl, Now: time.Now, seen: map[string]seenScore{}}, nil
}

// Params are the values the SQL is rendered with.
type Params struct {
	Start, Cut int64 // ms; Cut is inclusive
	Unit       string
	Reason     string
	Limit      int
}

// Render renders one query file (for docs and tests).
func (e *Engine) Render(file string, p Params) (string, error) { return e.tmpl.Render(file, p) }

func (e *Engine) params(p Period) Params {
	cut := min(p.End.UnixMilli()-1, e.Now().UnixMilli())
	return Params{Start: p.Start.UnixMilli(), Cut: cut}
}

// counts are the figures of one unit (or the city) over a period.
type counts struct {
	resolved, resolvedOnTime, open, openInTime                                 float64
	received, synced, eligible, fullOnline                                     float64
	feeDossiers, paidProc, withFee, paidFee                                    float64
	digitisedAll, digitisedAny, reused, verified, certReported, certElectronic float64
	eResultDen, eResult, toStore, rated, dissatisfied                          float64
	lateOrDissatisfied, ratedLateOrDissatisfied                                float64
	fbReceived, fbOnTime, fbBadAny, fbBadMajority                              float64
	newest                                                                     int64
}

func (c *counts) add(o *counts) {
	c.resolved += o.resolved
	c.resolvedOnTime += o.resolvedOnTime
	c.open += o.open
	c.openInTime += o.openInTime
	c.received += o.received
	c.synced += o.synced
	c.eligible += o.eligible
	c.fullOnline += o.fullOnline
	c.feeDossiers += o.feeDossiers
	c.paidProc += o.paidProc
	c.withFee += o.withFee
	c.paidFee += o.paidFee
	c.digitisedAll += o.digitisedAll
	c.digitisedAny += o.digitisedAny
	c.reused += o.reused
	c.verified += o.verified
	c.certReported += o.certReported
	c.certElectronic += o.certElectronic
	c.eResultDen += o.eResultDen
	c.eResult += o.eResult
	c.toStore += o.toStore
	c.rated += o.rated
	c.dissatisfied += o.dissatisfied
	c.lateOrDissatisfied += o.lateOrDissatisfied
	c.ratedLateOrDissatisfied += o.ratedLateOrDissatisfied
	c.fbReceived += o.fbReceived
	c.fbOnTime += o.fbOnTime
	c.fbBadAny += o.fbBadAny
	c.fbBadMajority += o.fbBadMajority
	c.newest = max(c.newest, o.newest)
}

// catalogue are the city-level figures of the procedure catalogue.
type catalogue struct {
	// of the procedures whose publication decision is in the period:
	// decided, published on time, posted on time, posted, posted complete
	decided, decidedOnTime, postedOnTime, posted, postedComplete float64
	// of the published catalogue at the cut
	published, feeBearing, payEnabled, procUsed, populationLinked float64
	newest                                                        int64
}

type procFlags struct {
	published                                                                    bool
	decision, basis, posted                                                      int64
	complete, fullOnline, feeBearing, onlinePayment, paperOnly, populationLinked int8
	newest                                                                       int64
}

// snapshot is everything one period needs: the units, their counts and
// the catalogue.
type snapshot struct {
	units  []Unit
	byUnit map[string]*counts
	city   counts
	cat    catalogue
}

func (e *Engine) query(ctx context.Context, file string, p Params, each func(driver.Rows) error) error {
	q, err := e.Render(file, p)
	if err != nil {
		return err
	}
	rows, err := e.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("service index: querying %s: %w (is the schema migrated to 120?)", file, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return fmt.Errorf("service index: reading %s: %w", file, err)
		}
	}
	return rows.Err()
}

func (e *Engine) snapshot(ctx context.Context, p Period) (*snapshot, error) {
	prm := e.params(p)
	s := &snapshot{byUnit: map[string]*counts{}}
	if err := e.query(ctx, "units.sql", prm, func(r driver.Rows) error {
		var u Unit
		if err := r.Scan(&u.ID, &u.Name, &u.Kind); err != nil {
			return err
		}
		s.units = append(s.units, u)
		return nil
	}); err != nil {
		return nil, err
	}
	procs := map[string]procFlags{}
	if err := e.query(ctx, "procedures.sql", prm, func(r driver.Rows) error {
		var code, status string
		var f procFlags
		if err := r.Scan(&code, &status, &f.decision, &f.basis, &f.posted, &f.complete, &f.fullOnline, &f.feeBearing,
			&f.onlinePayment, &f.paperOnly, &f.populationLinked, &f.newest); err != nil {
			return err
		}
		f.published = status == "published"
		procs[code] = f
		return nil
	}); err != nil {
		return nil, err
	}
	unitOf := func(id string) *counts {
		c := s.byUnit[id]
		if c == nil {
			c = &counts{}
			s.byUnit[id] = c
		}
		return c
	}
	used := map[string]bool{}
	if err := e.query(ctx, "dossiers.sql", prm, func(r driver.Rows) error {
		var unit, code string
		var v [21]uint64
		var newest int64
		ptrs := []any{&unit, &code}
		for i := range v {
			ptrs = append(ptrs, &v[i])
		}
		ptrs = append(ptrs, &newest)
		if err := r.Scan(ptrs...); err != nil {
			return err
		}
		f := procs[code]
		x := counts{resolved: float64(v[0]), resolvedOnTime: float64(v[1]), open: float64(v[2]), openInTime: float64(v[3]),
			received: float64(v[4]), synced: float64(v[5]), withFee: float64(v[7]), paidFee: float64(v[8]),
			digitisedAll: float64(v[9]), digitisedAny: float64(v[10]), reused: float64(v[11]), verified: float64(v[12]),
			certReported: float64(v[13]), certElectronic: float64(v[14]), toStore: float64(v[16]),
			rated: float64(v[17]), dissatisfied: float64(v[18]), lateOrDissatisfied: float64(v[19]),
			ratedLateOrDissatisfied: float64(v[20]), newest: newest}
		if f.fullOnline == 1 {
			x.eligible, x.fullOnline = float64(v[4]), float64(v[6])
		}
		if f.feeBearing == 1 {
			x.feeDossiers, x.paidProc = float64(v[4]), float64(v[8])
		}
		if f.paperOnly != 1 {
			x.eResultDen, x.eResult = float64(v[0]), float64(v[15])
		}
		if v[8] > 0 {
			used[code] = true
		}
		unitOf(unit).add(&x)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := e.query(ctx, "feedback.sql", prm, func(r driver.Rows) error {
		var unit string
		var v [4]uint64
		var newest int64
		if err := r.Scan(&unit, &v[0], &v[1], &v[2], &v[3], &newest); err != nil {
			return err
		}
		unitOf(unit).add(&counts{fbReceived: float64(v[0]), fbOnTime: float64(v[1]), fbBadAny: float64(v[2]),
			fbBadMajority: float64(v[3]), newest: newest})
		return nil
	}); err != nil {
		return nil, err
	}
	for _, c := range s.byUnit {
		s.city.add(c)
	}
	day := int64(24 * time.Hour / time.Millisecond)
	for code, f := range procs {
		s.cat.newest = max(s.cat.newest, f.newest)
		if !f.published {
			continue
		}
		s.cat.published++
		if f.populationLinked == 1 {
			s.cat.populationLinked++
		}
		if f.decision >= prm.Start && f.decision <= prm.Cut {
			s.cat.decided++
			if f.basis > 0 && f.decision <= f.basis-int64(e.cfg.PublishLeadDays)*day {
				s.cat.decidedOnTime++
			}
			if f.posted > 0 {
				s.cat.posted++
				if f.complete == 1 {
					s.cat.postedComplete++
				}
				if f.posted <= f.decision+int64(e.cfg.PostingDays)*day {
					s.cat.postedOnTime++
				}
			}
		}
		if f.feeBearing == 1 {
			s.cat.feeBearing++
			if f.onlinePayment == 1 {
				s.cat.payEnabled++
			}
			if used[code] {
				s.cat.procUsed++
			}
		}
	}
	return s, nil
}

// figures returns the numerator and denominator of every indicator.
func (e *Engine) figures(c *counts, cat *catalogue) map[string][2]float64 {
	progN, progD := c.resolvedOnTime+c.openInTime, c.resolved+c.open
	if e.cfg.ProgressPending == "ignore" {
		progN, progD = c.resolvedOnTime, c.resolved
	}
	payN, payD := c.paidProc, c.feeDossiers
	if e.cfg.PaymentBasis == "fee" {
		payN, payD = c.paidFee, c.withFee
	}
	dig := c.digitisedAll
	if e.cfg.Digitised == "any_input" {
		dig = c.digitisedAny
	}
	satD, satBad := c.resolved, c.lateOrDissatisfied
	if e.cfg.Unrated == "exclude" {
		satD, satBad = c.rated, c.ratedLateOrDissatisfied
	}
	if e.cfg.DossierSatisfaction == "dissatisfied" {
		satBad = c.dissatisfied
	}
	bad := c.fbBadAny
	if e.cfg.Dislike == "majority" {
		bad = c.fbBadMajority
	}
	return map[string][2]float64{
		"publicity.published_on_time":        {cat.decidedOnTime, cat.decided},
		"publicity.posted_on_time":           {cat.postedOnTime, cat.decided},
		"publicity.posted_complete":          {cat.postedComplete, cat.posted},
		"publicity.synced":                   {c.synced, c.received},
		"progress.on_time":                   {progN, progD},
		"online.full_online":                 {c.fullOnline, c.eligible},
		"payment.paid_online":                {payN, payD},
		"payment.procedures_enabled":         {cat.payEnabled, cat.feeBearing},
		"payment.procedures_used":            {cat.procUsed, cat.feeBearing},
		"satisfaction.feedback_on_time":      {c.fbOnTime, c.fbReceived},
		"satisfaction.feedback":              {c.fbReceived - bad, c.fbReceived},
		"satisfaction.dossiers":              {satD - satBad, satD},
		"digitisation.e_result":              {c.eResult, c.eResultDen},
		"digitisation.digitised":             {dig, c.received},
		"digitisation.reused":                {c.reused, c.received},
		"digitisation.to_store":              {c.toStore, c.resolved},
		"digitisation.population":            {c.verified, c.received},
		"digitisation.population_procedures": {cat.populationLinked, cat.published},
		"digitisation.e_certified":           {c.certElectronic, c.certReported},
	}
}

// Points turns a rate into points: linear (max × rate) or, with a
// threshold, full points from the threshold on (max × rate / threshold
// below it).
func Points(max, rate, threshold float64) float64 {
	if threshold > 0 {
		return max * math.Min(1, rate/threshold)
	}
	return max * rate
}

// Round2 rounds points half up to 0.01, as the portal shows them.
func Round2(x float64) float64 { return math.Round(x*100+1e-9) / 100 }

// score builds the score of one unit from its figures.
func (e *Engine) score(u Unit, p Period, c *counts, cat *catalogue) Score {
	fig := e.figures(c, cat)
	s := Score{Unit: u, Period: p}
	asOf := c.newest
	if u.Kind == "city" {
		asOf = max(asOf, cat.newest)
	}
	if asOf > 0 {
		s.AsOf = time.UnixMilli(asOf).In(event.Location)
	}
	for _, g := range Groups {
		grp := Group{Code: g.Code, NameVI: g.NameVI, NameEN: g.NameEN}
		for _, d := range Indicators {
			if d.Group != g.Code {
				continue
			}
			ind := Indicator{Code: d.Code, NameVI: d.NameVI, NameEN: d.NameEN, Max: d.Max, Rule: "linear", Source: d.Source}
			th := d.Threshold
			if v, ok := e.cfg.Thresholds[d.Code]; ok {
				th = v
			}
			if th > 0 && th < 1 {
				ind.Rule, ind.Threshold = "threshold", th
			} else {
				th = 0
			}
			ind.Applies = d.applies(u.Kind)
			if ind.Applies {
				f := fig[d.Code]
				ind.Numerator, ind.Denominator = f[0], f[1]
				inMax := true
				if f[1] == 0 {
					ind.NoData = true
					switch e.cfg.NoData {
					case "full":
						ind.Points = d.Max
					case "exclude":
						inMax = false
					}
				} else {
					ind.Rate = f[0] / f[1]
					ind.Points = Points(d.Max, ind.Rate, th)
				}
				if e.cfg.Rounding == "indicator" {
					ind.Points = Round2(ind.Points)
				}
				if inMax {
					grp.Max += d.Max
					grp.Points += ind.Points
				}
			} else {
				ind.Max = 0
			}
			grp.Indicators = append(grp.Indicators, ind)
		}
		if e.cfg.Rounding == "indicator" { // a sum of hundredths, without float noise
			grp.Points = Round2(grp.Points)
		}
		s.Groups = append(s.Groups, grp)
		s.Total += grp.Points
		s.Max += grp.Max
	}
	if e.cfg.Rounding == "indicator" {
		s.Total = Round2(s.Total)
	}
	if s.Max > 0 {
		s.Percent = s.Total / s.Max * 100
	}
	e.restate(&s)
	return s
}

// restate flags a score of a closed period that differs from what was
// computed before (a late event arrived).
func (e *Engine) restate(s *Score) {
	key := s.Unit.ID + "|" + s.Period.Key
	e.mu.Lock()
	defer e.mu.Unlock()
	prev, ok := e.seen[key]
	r := prev.restated
	if ok && math.Abs(prev.total-s.Total) > 1e-9 && !s.Period.End.After(e.Now()) {
		r = true
	}
	e.seen[key] = seenScore{total: s.Total, restated: r}
	s.Restated = r
}

// cityUnit is the registry's city, or a stand-in when it has none.
func (sn *snapshot) cityUnit() Unit {
	for _, u := range sn.units {
		if u.Kind == "city" {
			return u
		}
	}
	return Unit{ID: "city", Kind: "city", Name: "Thành phố"}
}

// Score is one unit ("" or "city" or the city's id for the city) over one
// period.
func (e *Engine) Score(ctx context.Context, p Period, unit string) (Score, error) {
	sn, err := e.snapshot(ctx, p)
	if err != nil {
		return Score{}, err
	}
	city := sn.cityUnit()
	if unit == "" || unit == "city" || unit == city.ID {
		return e.score(city, p, &sn.city, &sn.cat), nil
	}
	for _, u := range sn.units {
		if u.ID == unit {
			return e.score(u, p, sn.count(u.ID), &sn.cat), nil
		}
	}
	if c, ok := sn.byUnit[unit]; ok { // events of a unit the registry does not know (yet)
		return e.score(Unit{ID: unit, Name: unit}, p, c, &sn.cat), nil
	}
	return Score{}, fmt.Errorf("service index: unit %q is not in the unit registry and has no events", unit)
}

func (sn *snapshot) count(id string) *counts {
	if c, ok := sn.byUnit[id]; ok {
		return c
	}
	return &counts{}
}

// Ranking is the city and every unit (departments, wards, communes, and
// units with events the registry does not know) over one period, the
// best Percent first.
func (e *Engine) Ranking(ctx context.Context, p Period) ([]Score, error) {
	sn, err := e.snapshot(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []Score
	known := map[string]bool{}
	for _, u := range sn.units {
		known[u.ID] = true
		if u.Kind == "city" {
			continue
		}
		out = append(out, e.score(u, p, sn.count(u.ID), &sn.cat))
	}
	for id, c := range sn.byUnit {
		if !known[id] {
			out = append(out, e.score(Unit{ID: id, Name: id}, p, c, &sn.cat))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Percent != out[j].Percent {
			return out[i].Percent > out[j].Percent
		}
		return out[i].Unit.ID < out[j].Unit.ID
	})
	return out, nil
}

// Trend is one unit's monthly scores for the months ending with end's
// last month, oldest first.
func (e *Engine) Trend(ctx context.Context, unit string, end Period, months int) ([]Score, error) {
	if months < 1 || months > 60 {
		return nil, fmt.Errorf("service index: trend of %d months is outside 1..60", months)
	}
	last := end.End.Add(-time.Millisecond).In(event.Location)
	out := make([]Score, 0, months)
	for i := months - 1; i >= 0; i-- {
		m := time.Date(last.Year(), last.Month()-time.Month(i), 1, 0, 0, 0, 0, event.Location)
		s, err := e.Score(ctx, MonthPeriod(m.Year(), m.Month()), unit)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Costly lists the dossiers (or feedback) that cost a unit points for a
// reason, newest first.
func (e *Engine) Costly(ctx context.Context, p Period, unit, reason string, limit int) ([]Costly, error) {
	ok := false
	for _, r := range Reasons {
		ok = ok || r == reason
	}
	if !ok {
		return nil, fmt.Errorf("service index: reason %q is not one of %v", reason, Reasons)
	}
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	prm := e.params(p)
	prm.Reason, prm.Limit = reason, limit
	if unit != "" && unit != "city" {
		sn, err := e.snapshot(ctx, p) // the city's id means the whole city
		if err != nil {
			return nil, err
		}
		if unit != sn.cityUnit().ID {
			prm.Unit = unit
		}
	}
	var out []Costly
	err := e.query(ctx, "costly.sql", prm, func(r driver.Rows) error {
		var c Costly
		var rcv, due int64
		if err := r.Scan(&c.ID, &c.Unit, &c.ProcedureCode, &rcv, &due); err != nil {
			return err
		}
		c.Reason = reason
		c.ReceivedAt, c.DueAt = time.UnixMilli(rcv).In(event.Location), time.UnixMilli(due).In(event.Location)
		out = append(out, c)
		return nil
	})
	return out, err
}
