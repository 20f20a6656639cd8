-- The job's watermark (rollup_state), 0 0 0 before the first run.
SELECT toUInt32(argMax(done_through, updated_ms)), toUInt32(argMax(inserted_through, updated_ms)), count()
FROM {{raw "rollup_state"}}
WHERE name = {{quote .Name}}
