-- The alerts of a device opened in the last WindowS seconds, open or past:
-- the latest transition of each, newest first.
SELECT alert_id, argMax(rule, seq), argMax(severity, seq), argMax(state, seq), argMax(acked, seq), argMax(message, seq),
       argMax(metric, seq), argMax(value, seq), argMax(threshold, seq), min(opened_ms), argMax(at_ms, seq),
       argMax(operator, seq)
FROM {{raw "alert_events_raw"}}
WHERE device_id = ? AND opened_at >= now() - {{.WindowS}}
GROUP BY alert_id
ORDER BY min(opened_ms) DESC
LIMIT {{.Limit}}
