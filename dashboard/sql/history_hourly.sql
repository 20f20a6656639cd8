-- The hourly trend of Metrics in [From, To) from the rollups: the
-- sum, maximum and count of every device reading of each hour, each
-- reading counted once (stream/rollup).
SELECT toInt64(toUInt32(hour)) * 1000 AS h, sum(sum_value), max(max_value), sum(readings)
FROM {{raw "sensor_hourly_raw"}} FINAL
WHERE metric IN ({{list .Metrics}}) AND hour >= toDateTime({{.From}}) AND hour < toDateTime({{.To}})
GROUP BY h
ORDER BY h
