package event

import "encoding/json"

// TopicKPITiles is the compacted topic of the leadership's KPI tiles, keyed
// by tile id: the KPI engine (in the stream role) publishes a tile whenever
// it changes, the dashboard reads the topic from the beginning.
const TopicKPITiles = "ioc.kpi.tiles.v1"

// Tile is one KPI of the leadership view, computed from the administrative
// events by the SQL documented in docs/kpis.md.
type Tile struct {
	ID      string `json:"id"`    // stable: reform_plan.done, documents.signed, ...
	Order   int    `json:"order"` // position on the page
	Group   string `json:"group"` // reform_plan, dossiers, procedures, ...
	LabelVI string `json:"label_vi"`
	LabelEN string `json:"label_en"`
	// Unit of value: "percent", "count" or "percent_change".
	Unit string `json:"unit"`
	// Value is null when the denominator is zero (nothing to measure yet).
	Value       *float64 `json:"value"`
	Numerator   float64  `json:"numerator"`
	Denominator *float64 `json:"denominator"` // null for plain counts
	Target      *float64 `json:"target"`      // null when no target is set
	// Period is the reporting period: the calendar year of as_of, from 1
	// January to as_of, in Asia/Ho_Chi_Minh.
	Period Period `json:"period"`
	// AsOf is the time the figures are valid for: the newest event time of
	// the administrative feeds (not the computation time).
	AsOf       string `json:"as_of"`
	AsOfMs     int64  `json:"as_of_ms"`
	ComputedMs int64  `json:"computed_ms"`
	// Series holds the value at the end of each month of the period so far
	// and at as_of (the trend line).
	Series []Point `json:"series"`
	// Breakdown splits the value (procedures by field, tasks by main task).
	Breakdown []Part `json:"breakdown,omitempty"`
	// Restated is set when events arriving late changed a month of the
	// period that had already closed.
	Restated *Restatement `json:"restated,omitempty"`
}

// Period is a reporting period.
type Period struct {
	Label string `json:"label"` // 2021
	From  string `json:"from"`  // 2021-01-01
	To    string `json:"to"`    // the date of as_of
}

// Point is the tile at one time.
type Point struct {
	At          string   `json:"at"` // YYYY-MM-DD (city date of the point)
	Ms          int64    `json:"ms"`
	Value       *float64 `json:"value"`
	Numerator   float64  `json:"numerator"`
	Denominator *float64 `json:"denominator"`
}

// Part is one slice of a breakdown.
type Part struct {
	Key     string  `json:"key"`
	LabelVI string  `json:"label_vi"`
	LabelEN string  `json:"label_en"`
	Value   float64 `json:"value"`
}

// Restatement says which closed months changed, when, and what the tile
// showed before.
type Restatement struct {
	AtMs          int64    `json:"at_ms"`
	Months        []string `json:"months"` // YYYY-MM
	PreviousValue *float64 `json:"previous_value"`
	Previous      []Point  `json:"previous"` // the changed points as they were
}

// MarshalTile encodes a tile for Kafka.
func MarshalTile(t *Tile) ([]byte, error) { return json.Marshal(t) }

// UnmarshalTile decodes a tile from Kafka.
func UnmarshalTile(b []byte, t *Tile) error { return json.Unmarshal(b, t) }
