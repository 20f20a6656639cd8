-- The status changes of a device (online, stale, offline, with the cause) in
-- the last WindowS seconds, newest first.
SELECT status, previous, cause, at_ms, last_seen_ms
FROM {{raw "device_status_events_raw"}} FINAL
WHERE kind = 'device' AND partner = ? AND device_id = ? AND at >= now() - {{.WindowS}}
ORDER BY at_ms DESC
LIMIT {{.Limit}}
