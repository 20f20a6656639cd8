-- How fresh ClickHouse is: the newest receive time stored.
-- The bound on observed_at (ingest.max_past, 30 days by default, plus a day)
-- keeps it to the newest month or two: received_at alone prunes no partition.
SELECT max(received_ms) FROM {{raw "sensor_readings_raw"}}
WHERE received_at >= now() - 600 AND observed_at >= now() - 600 - 31 * 86400
