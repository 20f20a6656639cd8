-- The hourly trend of {metrics} in [{from}, {to}) from the rollups: the
-- sum, maximum and count of every device reading of each hour, each
-- reading counted once (stream/rollup).
SELECT toInt64(toUInt32(hour)) * 1000 AS h, sum(sum_value), max(max_value), sum(readings)
FROM {sensor_hourly_raw} FINAL
WHERE metric IN ({metrics}) AND hour >= toDateTime({from}) AND hour < toDateTime({to})
GROUP BY h
ORDER BY h
