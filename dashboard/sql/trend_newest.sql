-- The newest observation per device and trend metric up to the cutoff:
-- live readings not newer than it were in the seeded trend already.
SELECT partner, device_id, metric, max(observed_ms)
FROM {readings_raw}
WHERE observed_at >= now() - {window_s} AND metric IN ({metrics}) AND value_kind = 'number' AND received_ms <= {cutoff_ms}
GROUP BY partner, device_id, metric
