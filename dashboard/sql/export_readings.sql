-- Readings of one device for an export (GET /api/export/readings): one row
-- per (metric, observation time) however often it was delivered, between
-- the bounds, optionally one metric. Oldest first; streamed. The bound
-- on observed_at (seconds) prunes the monthly partitions.
SELECT metric, observed_ms, any(partner) AS partner, any(toString(value_kind)) AS kind, any(value) AS value,
       any(value_string) AS value_string, any(value_bool) AS value_bool, any(toString(unit)) AS unit,
       min(received_ms) AS received_ms, any(ward) AS ward
FROM {{raw "sensor_readings_raw"}}
WHERE device_id = ? AND observed_at >= toDateTime(?) AND observed_at <= toDateTime(?)
  AND observed_ms >= ? AND observed_ms <= ? AND (? = '' OR toString(metric) = ?)
GROUP BY metric, observed_ms
ORDER BY observed_ms, metric
