-- One trend per minute: average, maximum and count of the readings of
-- {metrics} observed in the last {window_s} seconds, each reading counted
-- once however often it was delivered. {received} limits it to what was
-- received up to a cutoff (the wall's seed; readings after it come from
-- Kafka).
SELECT toUInt64(toStartOfMinute(oa)) * 1000 AS minute, sum(v), max(v), count()
FROM (
    SELECT partner, device_id, metric, observed_ms, any(value) AS v, any(observed_at) AS oa
    FROM {readings_raw}
    WHERE observed_at >= now() - {window_s} AND metric IN ({metrics}) AND value_kind = 'number' {received}
    GROUP BY partner, device_id, metric, observed_ms
)
GROUP BY minute
ORDER BY minute
