-- The hourly aggregates of a metric in [From, To) from the
-- rollups (stream/rollup): a 30-day chart reads 720 rows, never raw readings.
SELECT toInt64(toUInt32(hour)) * 1000, readings, min_value, max_value, sum_value, last_value, last_ms
FROM {{raw "sensor_hourly_raw"}} FINAL
WHERE device_id = ? AND partner = ? AND metric = ? AND hour >= toDateTime({{.From}}) AND hour < toDateTime({{.To}})
ORDER BY hour
