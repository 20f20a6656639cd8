-- procedures.published by field, at as_of.
SELECT field AS key, toFloat64(count()) AS value
FROM (
    SELECT code, argMax(status, k) AS last_status, toString(argMax(field, k)) AS field
    FROM (SELECT code, status, field, (at_ms, toUInt8(status)) AS k
          FROM {{.DB}}.procedure_events WHERE at_ms <= {{.AsOf}})
    GROUP BY code
)
WHERE last_status = 'published'
GROUP BY field
ORDER BY key
