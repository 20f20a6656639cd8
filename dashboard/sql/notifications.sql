-- The notifier's records (docs/notifications.md) for /admin/notifications:
-- newest first, within {window_s}, filtered by the request ({where}).
SELECT at_ms, channel, channel_kind, alert_id, notice, repeat, idempotency_key, rule, severity, ward, partner,
       status, attempt, target, error, latency_ms
FROM {log} FINAL
WHERE at >= now() - {window_s} {where}
ORDER BY at_ms DESC, record_id
LIMIT {limit}
