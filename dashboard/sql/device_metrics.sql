-- The numeric metrics a device reported in the last WindowS seconds,
-- from the rollups.
SELECT metric, argMax(unit, hour)
FROM {{raw "sensor_hourly_raw"}}
WHERE device_id = ? AND hour >= now() - {{.WindowS}}
GROUP BY metric
ORDER BY metric
