-- The alerts of a device opened in the last {window_s} seconds, open or past:
-- the latest transition of each, newest first.
SELECT alert_id, argMax(rule, seq), argMax(severity, seq), argMax(state, seq), argMax(acked, seq), argMax(message, seq),
       argMax(metric, seq), argMax(value, seq), argMax(threshold, seq), min(opened_ms), argMax(at_ms, seq),
       argMax(operator, seq)
FROM {alerts_raw}
WHERE device_id = ? AND opened_at >= now() - {window_s}
GROUP BY alert_id
ORDER BY min(opened_ms) DESC
LIMIT {limit}
