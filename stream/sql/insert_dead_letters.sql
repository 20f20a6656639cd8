-- The dead letters' columnar insert (deadLetterRows.send).
INSERT INTO {{.Table}} (dl_id, source, source_topic, reason, detail, raw, received_at, received_ms)
