-- Every device's hourly aggregates of its numeric readings observed in
-- [{from}, {to}), each reading counted once however often it was delivered
-- (FINAL collapses the duplicates of sensor_readings_raw's key).
INSERT INTO {sensor_hourly} (device_id, partner, metric, ward, unit, hour, readings, min_value, max_value, sum_value,
                             last_value, first_ms, last_ms, computed_ms)
SELECT device_id, partner, metric, argMax(ward, observed_ms), argMax(unit, observed_ms), toStartOfHour(observed_at) AS h,
       count(), min(value), max(value), sum(value), argMax(value, observed_ms), min(observed_ms), max(observed_ms),
       toInt64({computed_ms})
FROM {readings_raw} FINAL
WHERE observed_at >= toDateTime({from}) AND observed_at < toDateTime({to}) AND value_kind = 'number'
GROUP BY device_id, partner, metric, h
