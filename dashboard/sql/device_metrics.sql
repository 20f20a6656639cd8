-- The numeric metrics a device reported in the last {window_s} seconds,
-- from the rollups.
SELECT metric, argMax(unit, hour)
FROM {sensor_hourly_raw}
WHERE device_id = ? AND hour >= now() - {window_s}
GROUP BY metric
ORDER BY metric
