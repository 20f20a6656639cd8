-- docs/clickhouse.md: monthly PM2.5 per ward, whole year.
SELECT toStartOfMonth(observed_at) AS month, ward, avg(value) AS pm25
FROM {{raw .Table}}
WHERE metric = 'pm25'
GROUP BY month, ward
ORDER BY month, ward
