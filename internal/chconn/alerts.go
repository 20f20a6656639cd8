package chconn

import (
	"embed"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

//go:embed sql/*.sql
var sqlFS embed.FS

// AlertQuery chooses the alerts AlertsQuery returns (sql/alerts.sql).
type AlertQuery struct {
	WindowS int64 // opened in the last WindowS seconds
	// KeepMs also returns the alerts resolved at or after it (unix ms);
	// 0 returns open alerts only.
	KeepMs int64
	// AdminAnyAge returns the administrative rules' alerts whatever their age.
	AdminAnyAge bool
	Limit       int // 0: no limit
}

// AlertsQuery renders the query of the latest state of alerts, the one
// that the monitor and the dashboard both seed from; read its rows with
// ScanAlert.
func (c *Config) AlertsQuery(q AlertQuery) (string, error) {
	set, err := sqltmpl.Parse(sqlFS, c, nil, "sql/alerts.sql")
	if err != nil {
		return "", err
	}
	return set.Render("alerts.sql", q)
}

// ScanAlert reads one row of AlertsQuery.
func ScanAlert(r driver.Rows) (event.AlertEvent, error) {
	var ev event.AlertEvent
	var seq uint32
	var level, acked uint8
	if err := r.Scan(&ev.AlertID, &ev.ID, &ev.Rule, &ev.Kind, &ev.Severity, &ev.State, &seq, &level, &acked,
		&ev.Subject, &ev.DeviceID, &ev.Partner, &ev.Ward, &ev.Metric, &ev.Value, &ev.Threshold, &ev.Stage,
		&ev.Message, &ev.OpenedMs, &ev.AtMs, &ev.Operator, &ev.Note); err != nil {
		return ev, fmt.Errorf("reading an alert row: %w", err)
	}
	ev.Seq, ev.Level, ev.Acked = int(seq), int(level), acked == 1
	return ev, nil
}
