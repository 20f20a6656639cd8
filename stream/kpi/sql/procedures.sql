-- Tile procedures.published: procedures whose latest catalogue event at
-- the point is a publication (count; no denominator, no target).
SELECT 'procedures.published' AS tile, toInt64(p) AS point, toFloat64(published) AS numerator,
       CAST(NULL AS Nullable(Float64)) AS denominator, toNullable(toFloat64(published)) AS value,
       CAST(NULL AS Nullable(Float64)) AS target
FROM (
    SELECT p, countIf(last_status = 'published') AS published
    FROM (
        SELECT p, code, argMax(status, (at_ms, toUInt8(status), version)) AS last_status
        FROM {{raw "procedure_events_raw"}}
        ARRAY JOIN {{.Points}} AS p
        WHERE at_ms <= p
        GROUP BY p, code
    )
    GROUP BY p
)
ORDER BY point
