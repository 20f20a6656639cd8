-- The active parts of a table per partition, largest first (dedup.go
-- partitionStates): the first part of a partition is its base.
SELECT partition, name, toUInt64(level), rows, toUInt32(min_time)
FROM system.parts
WHERE database = ? AND table = ? AND active
ORDER BY partition, rows DESC, name
