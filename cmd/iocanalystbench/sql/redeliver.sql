-- Redeliveries: DupPct percent of the readings observed in [FromMs, ToMs)
-- inserted again, same key and values.
INSERT INTO {{raw "sensor_readings_raw"}}
SELECT * FROM {{raw "sensor_readings_raw"}}
WHERE cityHash64(event_id) % 100 < {{.DupPct}} AND observed_ms >= {{.FromMs}} AND observed_ms < {{.ToMs}}
