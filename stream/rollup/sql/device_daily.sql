-- Every device's daily aggregates for the Son La days in [{from}, {to}),
-- from its hours.
INSERT INTO {sensor_daily} (device_id, partner, metric, ward, unit, day, readings, min_value, max_value, sum_value,
                            last_value, first_ms, last_ms, computed_ms)
SELECT device_id, partner, metric, argMax(ward, last_ms), argMax(unit, last_ms), toDate(hour) AS d, sum(readings),
       min(min_value), max(max_value), sum(sum_value), argMax(last_value, last_ms), min(first_ms), max(last_ms),
       toInt64({computed_ms})
FROM {sensor_hourly_raw} FINAL
WHERE hour >= toDateTime({from}) AND hour < toDateTime({to})
GROUP BY device_id, partner, metric, d
