-- The computed hours (before Done) that received readings inserted since
-- InsertedSince: late readings, and redeliveries, whose hours are
-- computed again. Since bounds the partitions read (the late window);
-- Parts, when set, the parts read: those written since (fresh_parts.sql),
-- so that a run reads what changed since the last one, not the window.
SELECT DISTINCT toUInt32(toStartOfHour(observed_at))
FROM {{raw "sensor_readings_raw"}}
WHERE observed_at >= toDateTime({{.Since}}) AND observed_at < toDateTime({{.Done}}) AND inserted_at >= toDateTime({{.InsertedSince}})
{{- if .Parts}} AND _part IN ({{list .Parts}}){{end}}
