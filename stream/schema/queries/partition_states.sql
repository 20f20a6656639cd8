-- The active parts of a table per partition, largest first (dedup.go
-- partitionStates): the first part of a partition is its base. Parts
-- whose first block is after UpTo (inserted after the dedup run read
-- them) are not listed: their writers answer for them (Lowerer).
SELECT partition, name, toUInt64(level), rows, toUInt32(min_time), toUInt64(max_block_number)
FROM system.parts
WHERE database = ? AND table = ? AND active AND min_block_number <= {{.UpTo}}
ORDER BY partition, rows DESC, name
