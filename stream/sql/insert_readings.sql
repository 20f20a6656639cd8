-- The readings' columnar insert. Table is database.sensor_readings_raw on
-- one node, the Distributed table database.sensor_readings_raw_all in
-- cluster mode (chconn.Config.Table). Columns in the order of
-- readingRows.send.
INSERT INTO {{.Table}} (event_id, partner, device_id, metric, value_kind, value,
    value_string, value_bool, unit, observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered,
    kafka_partition, kafka_offset)
