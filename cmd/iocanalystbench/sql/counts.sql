-- Rows in the raw table, and through the view.
SELECT count(), (SELECT count() FROM {{raw "sensor_readings"}})
FROM {{raw "sensor_readings_raw"}}
