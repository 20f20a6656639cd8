-- The status changes of a device (online, stale, offline, with the cause) in
-- the last {window_s} seconds, newest first.
SELECT status, previous, cause, at_ms, last_seen_ms
FROM {status_raw} FINAL
WHERE kind = 'device' AND partner = ? AND device_id = ? AND at >= now() - {window_s}
ORDER BY at_ms DESC
LIMIT {limit}
