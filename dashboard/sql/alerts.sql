-- The latest transition of every alert that is open, or was resolved
-- after {keep_ms}.
SELECT alert_id,
       argMax(event_id, seq), argMax(rule, seq), argMax(kind, seq), argMax(severity, seq), argMax(state, seq),
       max(seq), argMax(level, seq), argMax(acked, seq), argMax(subject, seq), argMax(device_id, seq),
       argMax(partner, seq), argMax(ward, seq), argMax(metric, seq), argMax(value, seq), argMax(threshold, seq),
       argMax(stage, seq), argMax(message, seq), min(opened_ms), argMax(at_ms, seq), argMax(operator, seq),
       argMax(note, seq)
FROM {alerts_raw}
WHERE opened_at >= now() - {window_s}
GROUP BY alert_id
HAVING argMax(state, seq) != 'resolved' OR argMax(at_ms, seq) >= {keep_ms}
ORDER BY min(opened_ms) DESC
LIMIT {limit}
