-- The oldest reading since {since}: where the first run starts.
SELECT toUInt32(min(observed_at)), count()
FROM {readings_raw}
WHERE observed_at >= toDateTime({since})
