-- The latest status of every device and feed (stream monitor).
SELECT kind, partner, device_id, argMax(status, at_ms), argMax(cause, at_ms), max(at_ms), argMax(last_seen_ms, at_ms)
FROM {{raw "device_status_events_raw"}}
GROUP BY kind, partner, device_id
