-- What the notifier sent since {since_ms}: never sent again after a
-- restart (notify/router.go, the ledger).
SELECT channel, alert_id, transition_id, idempotency_key, repeat, at_ms
FROM {log}
WHERE status = 'sent' AND at >= toDateTime({since_s}) AND at_ms >= {since_ms}
