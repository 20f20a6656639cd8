-- Hourly sums and counts of the VN_AQI pollutants over the last 13 hours,
-- each reading counted once however often it was delivered, and the
-- newest observation counted per series (readings replayed from Kafka up
-- to it are not counted again).
SELECT partner, device_id, metric, u, toStartOfHour(oa) AS hour, sum(v), count(), max(observed_ms)
FROM (
    SELECT partner, device_id, metric, observed_ms, any(unit) AS u, any(value) AS v, any(observed_at) AS oa
    FROM {{raw "sensor_readings_raw"}}
    WHERE observed_at >= now() - 13 * 3600 AND metric IN ('pm25', 'pm10', 'o3', 'no2', 'so2', 'co')
      AND value_kind = 'number' AND received_ms <= {{.CutoffMs}}
    GROUP BY partner, device_id, metric, observed_ms
)
GROUP BY partner, device_id, metric, u, hour
