-- One record of the live device registry (registry topic), stored by stream.
INSERT INTO {{.Table}} (device_id, partner, device_type, ward, name, lat, lon, interval_s, alarms, maintenance,
 retired, version, actor, source, note, changed_at)
