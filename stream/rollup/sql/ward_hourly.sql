-- Every ward's hourly aggregates in [{from}, {to}), from the device hours
-- just computed (their newest version: FINAL).
INSERT INTO {ward_hourly} (ward, metric, unit, hour, devices, readings, min_value, max_value, sum_value, last_value,
                           last_ms, computed_ms)
SELECT ward, metric, any(unit), hour, uniqExact(device_id), sum(readings), min(min_value), max(max_value), sum(sum_value),
       argMax(last_value, last_ms), max(last_ms), toInt64({computed_ms})
FROM {sensor_hourly_raw} FINAL
WHERE hour >= toDateTime({from}) AND hour < toDateTime({to}) AND ward != ''
GROUP BY ward, metric, hour
