-- The latest value per device and metric observed in the last WindowS
-- seconds: the wall is full at once after a restart.
SELECT device_id, metric, argMax(partner, observed_ms), argMax(event_id, observed_ms),
       argMax(toInt8(value_kind), observed_ms), argMax(value, observed_ms), argMax(value_string, observed_ms),
       argMax(value_bool, observed_ms), argMax(unit, observed_ms), max(observed_ms), argMax(received_ms, observed_ms),
       argMax(ward, observed_ms), argMax(registered, observed_ms)
FROM {{raw "sensor_readings_raw"}}
WHERE observed_at >= now() - {{.WindowS}}
GROUP BY device_id, metric
LIMIT {{.Limit}}
