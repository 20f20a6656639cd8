-- The computed hours (before {done}) that received readings inserted since
-- {inserted_since}: late readings, and redeliveries, whose hours are
-- computed again. {since} bounds the partitions read (the late window).
SELECT DISTINCT toUInt32(toStartOfHour(observed_at))
FROM {readings_raw}
WHERE observed_at >= toDateTime({since}) AND observed_at < toDateTime({done}) AND inserted_at >= toDateTime({inserted_since})
