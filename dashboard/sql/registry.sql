-- The registry in force (loaded by stream from deploy/devices.csv).
SELECT device_id, partner, device_type, ward, name, lat, lon, interval_s
FROM {{.DB}}.devices
