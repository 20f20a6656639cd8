-- The latest status of every device and feed (stream monitor): one row per
-- device from device_status_latest (131_device_status_latest.sql), not
-- every status change ever stored.
SELECT kind, partner, device_id, argMaxMerge(status), argMaxMerge(cause), maxMerge(since_ms), argMaxMerge(last_seen_ms)
FROM {{raw "device_status_latest"}}
GROUP BY kind, partner, device_id
