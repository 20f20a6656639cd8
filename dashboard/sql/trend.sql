-- One trend per minute: average, maximum and count of the readings of
-- Metrics observed in the last WindowS seconds, each reading counted
-- once however often it was delivered. CutoffMs, unless 0, limits it to
-- what was received up to then (the wall's seed; readings after it come
-- from Kafka).
SELECT toUInt64(toStartOfMinute(oa)) * 1000 AS minute, sum(v), max(v), count()
FROM (
    SELECT partner, device_id, metric, observed_ms, any(value) AS v, any(observed_at) AS oa
    FROM {{raw "sensor_readings_raw"}}
    WHERE observed_at >= now() - {{.WindowS}} AND metric IN ({{list .Metrics}}) AND value_kind = 'number'{{if .CutoffMs}} AND received_ms <= {{.CutoffMs}}{{end}}
    GROUP BY partner, device_id, metric, observed_ms
)
GROUP BY minute
ORDER BY minute
