-- Every ward's daily aggregates for the Son La days in [From, To),
-- from the device hours (devices counted over the whole day).
INSERT INTO {{raw "ward_daily_raw"}} (ward, metric, unit, day, devices, readings, min_value, max_value, sum_value, last_value,
                          last_ms, computed_ms)
SELECT ward, metric, any(unit), toDate(hour) AS d, uniqExact(device_id), sum(readings), min(min_value), max(max_value),
       sum(sum_value), argMax(last_value, last_ms), max(last_ms), toInt64({{.ComputedMs}})
FROM {{raw "sensor_hourly_raw"}} FINAL
WHERE hour >= toDateTime({{.From}}) AND hour < toDateTime({{.To}}) AND ward != ''
GROUP BY ward, metric, d
