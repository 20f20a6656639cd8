-- The dead letters of the poison devices under the run's mount point
-- (Prefix, e.g. 'bench123/sensors/'), received since FromMs, per reason.
SELECT toString(reason), count()
FROM {{.DB}}.dead_letters
WHERE source = 'mqtt' AND startsWith(source_topic, {{quote .Prefix}}) AND source_topic LIKE '%/poison%'
  AND received_ms >= {{.FromMs}}
GROUP BY reason
