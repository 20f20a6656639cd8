-- The latest transition of every alert opened in the last {{.WindowS}}
-- seconds that is still open, or was resolved at or after KeepMs (0: only
-- open ones). With AdminAnyAge, the alerts of the administrative rules (a
-- task can stay overdue for months) whatever their age. Columns in the
-- order ScanAlert reads them.
SELECT alert_id,
       argMax(event_id, seq), argMax(rule, seq), argMax(kind, seq), argMax(severity, seq), argMax(state, seq),
       max(seq), argMax(level, seq), argMax(acked, seq), argMax(subject, seq), argMax(device_id, seq),
       argMax(partner, seq), argMax(ward, seq), argMax(metric, seq), argMax(value, seq), argMax(threshold, seq),
       argMax(stage, seq), argMax(message, seq), min(opened_ms), argMax(at_ms, seq), argMax(operator, seq),
       argMax(note, seq)
FROM {{raw "alert_events_raw"}}
WHERE opened_at >= now() - {{.WindowS}}{{if .AdminAnyAge}} OR kind IN ('dossier_due', 'task_overdue'){{end}}
GROUP BY alert_id
HAVING argMax(state, seq) != 'resolved'{{if .KeepMs}} OR argMax(at_ms, seq) >= {{.KeepMs}}{{end}}
ORDER BY min(opened_ms) DESC{{if .Limit}}
LIMIT {{.Limit}}{{end}}
