-- Alerts: every transition of every alert (open, escalated, acknowledged,
-- resolved), as the stream's monitor derived it or an operator made it.
-- Each row carries the alert's whole state after the transition; the row
-- with the highest seq of an alert_id is the alert. A transition derived
-- twice has one event_id and collapses here.
CREATE TABLE IF NOT EXISTS {{.DB}}.alert_events_raw {{.OnCluster}} (
    event_id    String,
    alert_id    String,
    rule        {{lc}},
    kind        {{lc}},
    severity    {{lc}},
    state       {{lc}},
    seq         UInt32,
    level       UInt8,
    acked       UInt8,
    subject     String,
    device_id   String,
    partner     {{lc}},
    ward        String,
    metric      {{lc}},
    value       Float64,
    threshold   Float64,
    stage       String,
    message     String,
    opened_at   DateTime('Asia/Ho_Chi_Minh'),
    opened_ms   Int64,
    at          DateTime('Asia/Ho_Chi_Minh'),
    at_ms       Int64,
    operator    String,
    note        String,
    inserted_at DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "alert_events_raw"}}
PARTITION BY toYYYYMM(opened_at)
ORDER BY (alert_id, seq, event_id);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.alert_events_raw_all {{.OnCluster}}
AS {{.DB}}.alert_events_raw
ENGINE = {{distributed "alert_events_raw" "cityHash64(alert_id)"}};
{{end}}
CREATE VIEW IF NOT EXISTS {{.DB}}.alert_events {{.OnCluster}} AS
SELECT event_id, alert_id, rule, kind, severity, state, seq, level, acked, subject, device_id, partner, ward,
       metric, value, threshold, stage, message, opened_at, opened_ms, at, at_ms, operator, note
FROM {{.DB}}.{{.ReadTable "alert_events_raw"}} FINAL;

-- One row per alert: its latest state, who acknowledged it and when it
-- was resolved.
CREATE VIEW IF NOT EXISTS {{.DB}}.alerts {{.OnCluster}} AS
SELECT alert_id,
       any(rule) AS rule, any(kind) AS kind, argMax(severity, seq) AS severity, argMax(st, seq) AS state,
       max(level) AS level, any(subject) AS subject, any(device_id) AS device_id, any(partner) AS partner,
       any(ward) AS ward, argMax(message, seq) AS message, min(opened_at) AS opened_at,
       maxIf(at, st = 'acknowledged') AS acknowledged_at, anyIf(operator, st = 'acknowledged') AS acknowledged_by,
       anyIf(note, st = 'acknowledged') AS ack_note, maxIf(at, st = 'resolved') AS resolved_at
FROM (
    SELECT alert_id, rule, kind, severity, state AS st, seq, level, subject, device_id, partner, ward, message,
           opened_at, at, operator, note
    FROM {{.DB}}.{{.ReadTable "alert_events_raw"}}
)
GROUP BY alert_id;
