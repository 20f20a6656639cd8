-- The device registry's columnar insert (LoadRegistry).
INSERT INTO {{.Table}} (device_id, partner, device_type, ward, name, lat, lon, interval_s,
    registry_sha256, version, loaded_at)
