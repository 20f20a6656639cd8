-- How many of Parts are still active: fewer means a merge replaced one of
-- them while touched.sql ran, which may then have missed its rows.
SELECT count()
FROM system.parts
WHERE database = {{quote .DB}} AND table = {{quote .Table}} AND active AND name IN ({{list .Parts}})
