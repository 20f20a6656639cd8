-- Drill-down of procedures.published (procedures.sql) at as_of, per field.
SELECT 'procedures.published' AS tile, field AS key, toFloat64(count()) AS numerator,
       CAST(NULL AS Nullable(Float64)) AS denominator, toNullable(toFloat64(count())) AS value
FROM (
    SELECT code, argMax(status, (at_ms, toUInt8(status), version)) AS last_status,
           toString(argMax(field, (at_ms, toUInt8(status), version))) AS field
    FROM {{raw "procedure_events_raw"}}
    WHERE at_ms <= {{.AsOf}}
    GROUP BY code
)
WHERE last_status = 'published'
GROUP BY key
ORDER BY key
