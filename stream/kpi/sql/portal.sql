-- Tile portal.yoy: visits plus interactions on the city portal from 1
-- January to the point, against the same span of the previous year (%
-- change; no target). A day counts once, as its newest report says.
SELECT 'portal.yoy' AS tile, toInt64(p) AS point, toFloat64(current) AS numerator,
       toNullable(toFloat64(previous)) AS denominator,
       if(previous = 0, NULL, (current / previous - 1) * 100) AS value, CAST(NULL AS Nullable(Float64)) AS target
FROM (
    SELECT p, sumIf(traffic, day_ms >= {{.From}} AND day_ms <= p) AS current,
              sumIf(traffic, day_ms >= {{.PrevFrom}} AND day_ms <= pp) AS previous
    FROM (
        SELECT day, any(day_ms) AS day_ms, argMax(visits + interactions, version) AS traffic
        FROM {{raw "portal_traffic_raw"}}
        GROUP BY day
    )
    ARRAY JOIN {{.Points}} AS p, {{.PrevPoints}} AS pp
    GROUP BY p
)
ORDER BY point
