-- The newest observation per device and trend metric up to the cutoff:
-- live readings not newer than it were in the seeded trend already.
SELECT partner, device_id, metric, max(observed_ms)
FROM {{raw "sensor_readings_raw"}}
WHERE observed_at >= now() - {{.WindowS}} AND metric IN ({{list .Metrics}}) AND value_kind = 'number' AND received_ms <= {{.CutoffMs}}
GROUP BY partner, device_id, metric
