-- Alerts for an export (GET /api/export/alerts): each alert as its newest
-- transition says, opened between the bounds, filtered on state, severity,
-- device and ward (an empty filter keeps all). Newest first; streamed.
SELECT alert_id, rule, kind, severity, state, level, acked, subject, device_id, partner, ward, metric, value, threshold,
       stage, message, first_opened_ms, last_at_ms, operator, note
FROM (
    SELECT alert_id, argMax(rule, seq) AS rule, argMax(kind, seq) AS kind, argMax(severity, seq) AS severity,
           argMax(state, seq) AS state, argMax(level, seq) AS level, argMax(acked, seq) AS acked,
           argMax(subject, seq) AS subject, argMax(device_id, seq) AS device_id, argMax(partner, seq) AS partner,
           argMax(ward, seq) AS ward, argMax(metric, seq) AS metric, argMax(value, seq) AS value,
           argMax(threshold, seq) AS threshold, argMax(stage, seq) AS stage, argMax(message, seq) AS message,
           min(opened_ms) AS first_opened_ms, max(at_ms) AS last_at_ms, argMax(operator, seq) AS operator, argMax(note, seq) AS note
    FROM {{raw "alert_events_raw"}}
    WHERE opened_ms >= ? AND opened_ms <= ?
    GROUP BY alert_id
)
WHERE (? = '' OR toString(state) = ?) AND (? = '' OR toString(severity) = ?) AND (? = '' OR device_id = ?) AND (? = '' OR ward = ?)
ORDER BY first_opened_ms DESC, alert_id
