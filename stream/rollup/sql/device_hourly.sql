-- Every device's hourly aggregates of its numeric readings observed in
-- [From, To), each reading counted once however often it was delivered
-- (FINAL collapses the duplicates of sensor_readings_raw's key).
INSERT INTO {{raw "sensor_hourly_raw"}} (device_id, partner, metric, ward, unit, hour, readings, min_value, max_value, sum_value,
                             last_value, first_ms, last_ms, computed_ms)
SELECT device_id, partner, metric, argMax(ward, observed_ms), argMax(unit, observed_ms), toStartOfHour(observed_at) AS h,
       count(), min(value), max(value), sum(value), argMax(value, observed_ms), min(observed_ms), max(observed_ms),
       toInt64({{.ComputedMs}})
FROM {{raw "sensor_readings_raw"}} FINAL
WHERE observed_at >= toDateTime({{.From}}) AND observed_at < toDateTime({{.To}}) AND value_kind = 'number'
GROUP BY device_id, partner, metric, h
