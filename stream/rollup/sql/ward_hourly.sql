-- Every ward's hourly aggregates in [From, To), from the device hours
-- just computed (their newest version: FINAL).
INSERT INTO {{raw "ward_hourly_raw"}} (ward, metric, unit, hour, devices, readings, min_value, max_value, sum_value, last_value,
                           last_ms, computed_ms)
SELECT ward, metric, any(unit), hour, uniqExact(device_id), sum(readings), min(min_value), max(max_value), sum(sum_value),
       argMax(last_value, last_ms), max(last_ms), toInt64({{.ComputedMs}})
FROM {{raw "sensor_hourly_raw"}} FINAL
WHERE hour >= toDateTime({{.From}}) AND hour < toDateTime({{.To}}) AND ward != ''
GROUP BY ward, metric, hour
