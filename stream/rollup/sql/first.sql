-- The oldest reading since Since: where the first run starts.
SELECT toUInt32(min(observed_at)), count()
FROM {{raw "sensor_readings_raw"}}
WHERE observed_at >= toDateTime({{.Since}})
