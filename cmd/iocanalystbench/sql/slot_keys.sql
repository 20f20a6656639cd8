-- The keys of the readings observed in [FromMs, ToMs): what a batch re-sent
-- after a crash of stream carries again.
SELECT DISTINCT partner, device_id, metric, observed_ms
FROM {{raw "sensor_readings_raw"}}
WHERE observed_ms >= {{.FromMs}} AND observed_ms < {{.ToMs}}
