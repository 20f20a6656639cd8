-- ioc deadletter list: the newest dead letters matching the filter.
SELECT dl_id, received_ms, reason, source_topic, detail, raw
FROM {{.DB}}.dead_letters
WHERE {{.Where}}
ORDER BY received_ms DESC
LIMIT {{.Limit}}
