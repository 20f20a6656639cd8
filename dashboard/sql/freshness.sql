-- How fresh ClickHouse is: the newest receive time stored.
SELECT max(received_ms) FROM {{raw "sensor_readings_raw"}} WHERE received_at >= now() - 600
