-- The receive time of the newest reading of every device (derived values
-- excluded), to know at start which devices are late.
SELECT partner, device_id, max(received_ms)
FROM {{raw "sensor_readings_raw"}}
WHERE received_at >= now() - {{.WindowS}} AND metric != 'vn_aqi'
GROUP BY partner, device_id
