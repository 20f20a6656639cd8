-- README: hourly PM2.5 per ward, last 24 h.
SELECT toStartOfHour(observed_at) AS hour, ward, avg(value) AS pm25
FROM {{raw .Table}}
WHERE metric = 'pm25' AND observed_at >= {{.Now}} - 86400
GROUP BY hour, ward
ORDER BY hour, ward
