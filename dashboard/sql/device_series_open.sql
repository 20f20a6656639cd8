-- The same for the hours the rollup job has not closed yet (from
-- From, its watermark), from the deduplicated raw readings of the device.
SELECT toInt64(toUInt32(toStartOfHour(observed_at))) * 1000 AS h, count(), min(value), max(value), sum(value),
       argMax(value, observed_ms), max(observed_ms)
FROM {{raw "sensor_readings_raw"}} FINAL
WHERE partner = ? AND device_id = ? AND metric = ? AND observed_at >= toDateTime({{.From}}) AND value_kind = 'number'
GROUP BY h
ORDER BY h
