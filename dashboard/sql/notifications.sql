-- The notifier's records (docs/notifications.md) for /admin/notifications:
-- newest first, within WindowS seconds, filtered by the request (Where: fixed column
-- names compared with bound arguments).
SELECT at_ms, channel, channel_kind, alert_id, notice, repeat, idempotency_key, rule, severity, ward, partner,
       status, attempt, target, error, latency_ms
FROM {{raw "notification_log"}} FINAL
WHERE at >= now() - {{.WindowS}} {{.Where}}
ORDER BY at_ms DESC, record_id
LIMIT {{.Limit}}
