-- Drill-down per unit of signing.departments, signing.communes
-- (signing.sql) and one_stop.excellent (one_stop.sql) at as_of: each
-- active unit counted by its tile, with 1 or 0 as numerator.
SELECT tile, key, numerator, denominator, value
FROM (
    SELECT unit_id AS key, last_kind, sig, shop, rating
    FROM (
        SELECT unit_id, argMax(status, (at_ms, version)) AS last_status, toString(argMax(kind, (at_ms, version))) AS last_kind,
               argMax(digital_signature, (at_ms, version)) AS sig, argMax(one_stop_shop, (at_ms, version)) AS shop
        FROM {{raw "org_unit_events_raw"}}
        WHERE at_ms <= {{.AsOf}}
        GROUP BY unit_id
    ) ANY LEFT JOIN (
        SELECT toString(unit) AS unit_id, toString(argMax(rating, (rated_ms, version))) AS rating
        FROM {{raw "shop_ratings_raw"}}
        WHERE rated_ms <= {{.AsOf}} AND period_year = {{.Year}}
        GROUP BY unit_id
    ) USING (unit_id)
    WHERE last_status = 'active'
)
ARRAY JOIN
    ['signing.departments', 'signing.communes', 'one_stop.excellent'] AS tile,
    [toFloat64(sig), toFloat64(sig), toFloat64(rating = 'excellent')] AS numerator,
    [toNullable(toFloat64(last_kind = 'department')), toNullable(toFloat64(last_kind IN ('ward', 'commune'))), toNullable(toFloat64(shop))] AS denominator,
    [toNullable(sig * 100.), toNullable(sig * 100.), toNullable((rating = 'excellent') * 100.)] AS value
WHERE denominator = 1
ORDER BY tile, key
