-- The active parts of the local sensor_readings_raw (DB.Table) written
-- since Since: every row inserted since then is in one of them, whether
-- its insert's part or a part a merge made of it (a part's
-- modification_time is when its files were written).
SELECT name
FROM system.parts
WHERE database = {{quote .DB}} AND table = {{quote .Table}} AND active AND modification_time >= toDateTime({{.Since}})
