-- The device and feed status changes' columnar insert (statusRows.send).
INSERT INTO {{.Table}} (event_id, kind, device_id, partner, device_type, ward, status, previous, cause,
    at, at_ms, last_seen_ms, interval_s)
