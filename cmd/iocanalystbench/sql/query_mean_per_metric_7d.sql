-- docs/clickhouse.md: mean per metric, last 7 days.
SELECT metric, avg(value)
FROM {{raw .Table}}
WHERE observed_at >= {{.Now}} - 7 * 86400
GROUP BY metric
