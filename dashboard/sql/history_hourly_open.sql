-- The same for the hours after the rollup watermark From, from the raw
-- readings (grouped by their key: each reading once).
SELECT toInt64(toUInt32(toStartOfHour(oa))) * 1000 AS h, sum(v), max(v), count()
FROM (
    SELECT partner, device_id, metric, observed_ms, any(value) AS v, any(observed_at) AS oa
    FROM {{raw "sensor_readings_raw"}}
    WHERE observed_at >= toDateTime({{.From}}) AND metric IN ({{list .Metrics}}) AND value_kind = 'number'
    GROUP BY partner, device_id, metric, observed_ms
)
GROUP BY h
ORDER BY h
