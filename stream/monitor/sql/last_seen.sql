-- The receive time of the newest reading of every device (derived values
-- excluded), to know at start which devices are late.
SELECT partner, device_id, max(received_ms)
FROM {{raw "sensor_readings_raw"}}
WHERE received_at >= now() - {{.WindowS}} AND metric != 'vn_aqi'
  -- received_at is not the partition key: without a bound on observed_at this
  -- reads every month kept (a year). Ingest refuses readings observed more than
  -- ingest.max_past (30 days by default) before they arrive; 31 days covers it.
  AND observed_at >= now() - {{.WindowS}} - 31 * 86400
GROUP BY partner, device_id
