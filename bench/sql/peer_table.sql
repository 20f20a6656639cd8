-- The peer's (Benthos's) readings: one row per reading, as its sql_insert
-- writes them (PeerConfig.Render). A reading's key is (device_id,
-- observed_ms): the load generator gives each device one observation time
-- per millisecond. Plain MergeTree, as on ClickHouse 18.16.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{.Table}} (
    device_id String,
    partner String,
    metric String,
    unit String,
    value Float64,
    observed_ms Int64
) ENGINE = MergeTree ORDER BY (device_id, observed_ms)
