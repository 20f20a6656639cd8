-- ioc deadletter list: dead letters per reason among those matching the
-- filter (Where, its values the query's arguments).
SELECT reason, count(), max(received_ms)
FROM {{.DB}}.dead_letters
WHERE {{.Where}}
GROUP BY reason
ORDER BY count() DESC
