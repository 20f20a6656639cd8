-- README: one device, all its readings.
SELECT device_id, metric, value, unit, observed_at
FROM {{raw .Table}}
WHERE device_id = 'dev-42'
