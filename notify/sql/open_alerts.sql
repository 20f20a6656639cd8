-- The alerts still open (latest transition not "resolved") that opened
-- within WindowS seconds, or of the administrative rules whatever their age,
-- with their latest transition: the notifier follows them after a restart
-- even when the alerts topic no longer holds their transitions.
SELECT alert_id,
       argMax(event_id, seq), argMax(rule, seq), argMax(kind, seq), argMax(severity, seq), argMax(state, seq),
       max(seq), argMax(level, seq), argMax(acked, seq), argMax(subject, seq), argMax(device_id, seq),
       argMax(partner, seq), argMax(ward, seq), argMax(metric, seq), argMax(value, seq), argMax(threshold, seq),
       argMax(stage, seq), argMax(message, seq), min(opened_ms), argMax(at_ms, seq), argMax(operator, seq),
       argMax(note, seq)
FROM {{raw "alert_events_raw"}}
WHERE opened_at >= now() - {{.WindowS}} OR kind IN ('dossier_due', 'task_overdue')
GROUP BY alert_id
HAVING argMax(state, seq) != 'resolved'
