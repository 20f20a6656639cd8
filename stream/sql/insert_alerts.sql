-- The alert transitions' columnar insert (alertRows.send).
INSERT INTO {{.Table}} (event_id, alert_id, rule, kind, severity, state, seq, level, acked, subject,
    device_id, partner, ward, metric, value, threshold, stage, message, opened_at, opened_ms, at, at_ms, operator, note)
