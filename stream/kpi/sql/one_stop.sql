-- Tile one_stop.excellent: active units with a one-stop shop (unit
-- registry, latest event at the point) whose latest rating by the province
-- for a period of the year, rated by the point, is "excellent", of all
-- active units with a one-stop shop (%; target 100).
SELECT 'one_stop.excellent' AS tile, toInt64(p) AS point, toFloat64(excellent) AS numerator,
       toNullable(toFloat64(shops)) AS denominator, if(shops = 0, NULL, excellent / shops * 100) AS value,
       toNullable(100.) AS target
FROM (
    SELECT p, countIf(rating = 'excellent') AS excellent, count() AS shops
    FROM (
        SELECT p, unit_id
        FROM (
            SELECT p, unit_id, argMax(status, (at_ms, version)) AS last_status,
                   argMax(one_stop_shop, (at_ms, version)) AS shop
            FROM {{raw "org_unit_events_raw"}}
            ARRAY JOIN {{.Points}} AS p
            WHERE at_ms <= p
            GROUP BY p, unit_id
        )
        WHERE last_status = 'active' AND shop = 1
    ) ANY LEFT JOIN (
        SELECT p, toString(unit) AS unit_id, toString(argMax(rating, (rated_ms, version))) AS rating
        FROM {{raw "shop_ratings_raw"}}
        ARRAY JOIN {{.Points}} AS p
        WHERE rated_ms <= p AND period_year = {{.Year}}
        GROUP BY p, unit_id
    ) USING (p, unit_id)
    GROUP BY p
)
ORDER BY point
