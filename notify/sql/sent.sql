-- What the notifier sent SinceMs: never sent again after a
-- restart (notify/router.go, the ledger); scheduled reports (notice
-- report, notify/report.go) are not alerts and keep their own markers.
SELECT channel, alert_id, transition_id, idempotency_key, repeat, at_ms
FROM {{raw "notification_log"}}
WHERE status = 'sent' AND notice != 'report' AND at >= toDateTime({{.SinceS}}) AND at_ms >= {{.SinceMs}}
