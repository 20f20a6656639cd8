-- Tiles budget.vs_province, budget.vs_council and budget.yoy. Revenue is
-- that of the periods starting from 1 January to the point (an entry counts
-- once, as its newest version says); an estimate is the newest one decided
-- by the point for the year, by the province or by the city People's
-- Council.
--   vs_province  revenue / the province's estimate (%; target 100)
--   vs_council   revenue / the council's estimate (%; target 100)
--   yoy          revenue against the same span of the previous year
--                (% change: (revenue / last year's − 1) × 100)
SELECT tile, toInt64(p) AS point, numerator, denominator, value, target
FROM (
    SELECT p,
           sumIf(amount, type = 'revenue' AND start_ms >= {{.From}} AND start_ms <= p) AS revenue,
           sumIf(amount, type = 'revenue' AND start_ms >= {{.PrevFrom}} AND start_ms <= pp) AS revenue_before,
           argMaxIf(amount, decided_ms, type = 'estimate' AND authority = 'province' AND year = {{.Year}} AND decided_ms <= p) AS est_province,
           argMaxIf(amount, decided_ms, type = 'estimate' AND authority = 'council' AND year = {{.Year}} AND decided_ms <= p) AS est_council
    FROM (
        SELECT entry_id, argMax(type, version) AS type, argMax(amount_vnd, version) AS amount,
               argMax(period_start_ms, version) AS start_ms, argMax(at_ms, version) AS decided_ms,
               toString(argMax(authority, version)) AS authority, argMax(year, version) AS year
        FROM {{raw "budget_entries_raw"}}
        GROUP BY entry_id
    )
    ARRAY JOIN {{.Points}} AS p, {{.PrevPoints}} AS pp
    GROUP BY p
)
ARRAY JOIN
    ['budget.vs_province', 'budget.vs_council', 'budget.yoy'] AS tile,
    [toFloat64(revenue), toFloat64(revenue), toFloat64(revenue)] AS numerator,
    [toNullable(toFloat64(est_province)), toNullable(toFloat64(est_council)), toNullable(toFloat64(revenue_before))] AS denominator,
    [if(est_province = 0, NULL, revenue / est_province * 100), if(est_council = 0, NULL, revenue / est_council * 100),
     if(revenue_before = 0, NULL, (revenue / revenue_before - 1) * 100)] AS value,
    [toNullable(100.), toNullable(100.), CAST(NULL AS Nullable(Float64))] AS target
ORDER BY tile, point
