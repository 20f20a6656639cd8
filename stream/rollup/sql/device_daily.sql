-- Every device's daily aggregates for the Son La days in [From, To),
-- from its hours.
INSERT INTO {{raw "sensor_daily_raw"}} (device_id, partner, metric, ward, unit, day, readings, min_value, max_value, sum_value,
                            last_value, first_ms, last_ms, computed_ms)
SELECT device_id, partner, metric, argMax(ward, last_ms), argMax(unit, last_ms), toDate(hour) AS d, sum(readings),
       min(min_value), max(max_value), sum(sum_value), argMax(last_value, last_ms), min(first_ms), max(last_ms),
       toInt64({{.ComputedMs}})
FROM {{raw "sensor_hourly_raw"}} FINAL
WHERE hour >= toDateTime({{.From}}) AND hour < toDateTime({{.To}})
GROUP BY device_id, partner, metric, d
