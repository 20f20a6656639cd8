// Package svcindex computes the city's own service index of Decision
// 766/QĐ-TTg (23 June 2022): six groups, 100 points, per unit and period,
// from the administrative events in ClickHouse.
//
// This file is the contract between the engine (this package) and its
// readers (the dashboard page and tiles, the report and the exports):
// change it only additively.
package svcindex

import (
	"context"
	"time"
)

// PeriodKind is the length of a scoring period.
type PeriodKind string

const (
	Month   PeriodKind = "month"
	Quarter PeriodKind = "quarter"
	YTD     PeriodKind = "ytd" // 1 January to the end of the given month
)

// Period is one scoring period, in Asia/Ho_Chi_Minh: [Start, End).
type Period struct {
	Kind  PeriodKind `json:"kind"`
	Key   string     `json:"key"` // "2026-11", "2026-Q4", "2026-YTD-11"
	Start time.Time  `json:"start"`
	End   time.Time  `json:"end"`
}

// Unit is one scored unit: the city, a department or a ward/commune, as
// in the unit registry (admin kind "unit").
type Unit struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // city, department, ward, commune
	Name string `json:"name"`
}

// Indicator is one scored rate of a group.
type Indicator struct {
	Code   string `json:"code"` // stable, e.g. "progress.on_time"
	NameVI string `json:"name_vi"`
	NameEN string `json:"name_en"`
	// Applies is false where the indicator is not scored at this unit's
	// level (shown as "not applicable", never as zero); the numbers below
	// are then zero and the group's Max leaves its points out.
	Applies     bool    `json:"applies"`
	Numerator   float64 `json:"numerator"`
	Denominator float64 `json:"denominator"`
	Rate        float64 `json:"rate"` // 0..1; 0 with a zero denominator (see NoData)
	NoData      bool    `json:"no_data"`
	Points      float64 `json:"points"`
	Max         float64 `json:"max"`
	// Rule is how Rate becomes Points: "linear" (Max × Rate) or
	// "threshold" (full points at Threshold, Max × Rate / Threshold below).
	Rule      string  `json:"rule"`
	Threshold float64 `json:"threshold,omitempty"`
	Source    string  `json:"source"` // the formula's source, see docs/service-index.md
}

// Group is one of the six groups.
type Group struct {
	Code       string      `json:"code"` // publicity, progress, online, payment, digitisation, satisfaction
	NameVI     string      `json:"name_vi"`
	NameEN     string      `json:"name_en"`
	Points     float64     `json:"points"`
	Max        float64     `json:"max"` // of the indicators that apply
	Indicators []Indicator `json:"indicators"`
}

// Score is the index of one unit over one period.
type Score struct {
	Unit   Unit    `json:"unit"`
	Period Period  `json:"period"`
	Total  float64 `json:"total"`
	Max    float64 `json:"max"` // 100 where every indicator applies
	// Percent is Total over Max × 100 (0 with Max 0): comparable across
	// units whose applicable indicators differ; Ranking sorts by it.
	Percent float64 `json:"percent"`
	Groups  []Group `json:"groups"`
	// AsOf is the newest event time the score reflects; a late event
	// restates the score (Restated names the version it replaces).
	AsOf     time.Time `json:"as_of"`
	Restated bool      `json:"restated,omitempty"`
}

// Costly is one dossier (or feedback) that cost its unit points, for the
// drill-down; ids are opaque, no personal data.
type Costly struct {
	ID            string    `json:"id"`
	Unit          string    `json:"unit"`
	ProcedureCode string    `json:"procedure_code"`
	Reason        string    `json:"reason"` // late, not_digitised, not_paid_online, disliked, ...
	ReceivedAt    time.Time `json:"received_at"`
	DueAt         time.Time `json:"due_at"`
}

// Source is what the page, the tiles, the report and the exports read.
// The engine implements it against ClickHouse.
type Source interface {
	// Score is one unit ("" or "city" for the city) over one period.
	Score(ctx context.Context, p Period, unit string) (Score, error)
	// Ranking is every unit over one period, best total first.
	Ranking(ctx context.Context, p Period) ([]Score, error)
	// Trend is one unit's monthly scores for the months ending with end.
	Trend(ctx context.Context, unit string, end Period, months int) ([]Score, error)
	// Costly lists the dossiers that cost a unit points for a reason, at
	// most limit of them, newest first.
	Costly(ctx context.Context, p Period, unit, reason string, limit int) ([]Costly, error)
}
