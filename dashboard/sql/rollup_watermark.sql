-- Every hour before done_through is in the rollups.
SELECT toUInt32(argMax(done_through, updated_ms)), count()
FROM {{raw "rollup_state"}}
WHERE name = 'sensor'
