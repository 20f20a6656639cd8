-- Tiles signing.departments and signing.communes: active units of the
-- registry (latest event at the point) that sign documents digitally, of
-- all active ones: specialised departments (phòng), and ward and commune
-- People's Committees (%; target 100).
SELECT tile, toInt64(p) AS point, numerator, denominator, value, target
FROM (
    SELECT p, countIf(last_kind = 'department' AND sig = 1) AS dep_signing, countIf(last_kind = 'department') AS deps,
              countIf(last_kind IN ('ward', 'commune') AND sig = 1) AS com_signing, countIf(last_kind IN ('ward', 'commune')) AS coms
    FROM (
        SELECT p, unit_id, argMax(status, (at_ms, version)) AS last_status, argMax(kind, (at_ms, version)) AS last_kind,
               argMax(digital_signature, (at_ms, version)) AS sig
        FROM {{raw "org_unit_events_raw"}}
        ARRAY JOIN {{.Points}} AS p
        WHERE at_ms <= p
        GROUP BY p, unit_id
    )
    WHERE last_status = 'active'
    GROUP BY p
)
ARRAY JOIN
    ['signing.departments', 'signing.communes'] AS tile,
    [toFloat64(dep_signing), toFloat64(com_signing)] AS numerator,
    [toNullable(toFloat64(deps)), toNullable(toFloat64(coms))] AS denominator,
    [if(deps = 0, NULL, dep_signing / deps * 100), if(coms = 0, NULL, com_signing / coms * 100)] AS value,
    [toNullable(100.), toNullable(100.)] AS target
ORDER BY tile, point
