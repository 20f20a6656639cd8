-- The computed hours (before Done) that received readings inserted since
-- InsertedSince: late readings, and redeliveries, whose hours are
-- computed again. Since bounds the partitions read (the late window).
SELECT DISTINCT toUInt32(toStartOfHour(observed_at))
FROM {{raw "sensor_readings_raw"}}
WHERE observed_at >= toDateTime({{.Since}}) AND observed_at < toDateTime({{.Done}}) AND inserted_at >= toDateTime({{.InsertedSince}})
