-- Devices that report but are not in the registry, most recent first.
SELECT partner, device_id, toInt64(toUnixTimestamp(first_seen)) * 1000, toInt64(toUnixTimestamp(last_seen)) * 1000,
       readings, metrics
FROM {{.DB}}.unregistered_devices
ORDER BY last_seen DESC
LIMIT {{.Limit}}
