-- ioc deadletter replay: the dead letters matching the filter, oldest
-- first, as the replay decodes them again.
SELECT dl_id, received_ms, source, source_topic, reason, detail, raw
FROM {{.DB}}.dead_letters
WHERE {{.Where}}
ORDER BY received_ms
LIMIT {{.Limit}}
