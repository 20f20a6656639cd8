-- The latest status change of every device and feed.
SELECT kind, partner, device_id, argMax(status, at_ms), max(at_ms)
FROM {{raw "device_status_events_raw"}}
GROUP BY kind, partner, device_id
