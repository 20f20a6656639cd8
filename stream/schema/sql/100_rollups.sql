-- Sensor rollups: hourly and daily aggregates of the numeric readings, per
-- device and metric and per ward and metric, kept for years (retention
-- rollups_days, default 5 years) while raw readings go after readings_days.
--
-- They are not materialized views: a view over inserts would count a
-- redelivered reading twice (sensor_readings_raw collapses duplicates only
-- when it merges). The stream's rollup job (stream/rollup) computes each
-- closed hour from the deduplicated raw rows (FINAL) and inserts the
-- result here; an hour that receives a late reading is computed again and
-- its new row, with a higher computed_ms, replaces the old one. Read these
-- tables with FINAL, or through the views sensor_hourly, sensor_daily,
-- ward_hourly and ward_daily (docs/clickhouse.md, "Rollups").
CREATE TABLE IF NOT EXISTS {{.DB}}.sensor_hourly_raw {{.OnCluster}} (
    device_id    String,
    partner      {{lc}},
    metric       {{lc}},
    ward         String,
    unit         {{lc}},
    hour         DateTime('Asia/Ho_Chi_Minh'),
    readings     UInt64,
    min_value    Float64,
    max_value    Float64,
    sum_value    Float64,
    last_value   Float64,
    first_ms     Int64,
    last_ms      Int64,
    computed_ms  Int64
) ENGINE = {{if .Cluster}}ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{{.DB}}/sensor_hourly_raw', '{replica}', computed_ms){{else}}ReplacingMergeTree(computed_ms){{end}}
PARTITION BY toYYYYMM(hour)
ORDER BY (device_id, partner, metric, hour);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.sensor_hourly_raw_all {{.OnCluster}}
AS {{.DB}}.sensor_hourly_raw
ENGINE = {{distributed "sensor_hourly_raw" "cityHash64(device_id)"}};
{{end}}
CREATE TABLE IF NOT EXISTS {{.DB}}.sensor_daily_raw {{.OnCluster}} (
    device_id    String,
    partner      {{lc}},
    metric       {{lc}},
    ward         String,
    unit         {{lc}},
    day          Date,
    readings     UInt64,
    min_value    Float64,
    max_value    Float64,
    sum_value    Float64,
    last_value   Float64,
    first_ms     Int64,
    last_ms      Int64,
    computed_ms  Int64
) ENGINE = {{if .Cluster}}ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{{.DB}}/sensor_daily_raw', '{replica}', computed_ms){{else}}ReplacingMergeTree(computed_ms){{end}}
PARTITION BY toYYYYMM(day)
ORDER BY (device_id, partner, metric, day);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.sensor_daily_raw_all {{.OnCluster}}
AS {{.DB}}.sensor_daily_raw
ENGINE = {{distributed "sensor_daily_raw" "cityHash64(device_id)"}};
{{end}}
-- Per ward: devices is how many devices reported the metric in the hour
-- (or day); readings with no ward (unregistered devices) are left out.
CREATE TABLE IF NOT EXISTS {{.DB}}.ward_hourly_raw {{.OnCluster}} (
    ward         String,
    metric       {{lc}},
    unit         {{lc}},
    hour         DateTime('Asia/Ho_Chi_Minh'),
    devices      UInt64,
    readings     UInt64,
    min_value    Float64,
    max_value    Float64,
    sum_value    Float64,
    last_value   Float64,
    last_ms      Int64,
    computed_ms  Int64
) ENGINE = {{if .Cluster}}ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{{.DB}}/ward_hourly_raw', '{replica}', computed_ms){{else}}ReplacingMergeTree(computed_ms){{end}}
PARTITION BY toYYYYMM(hour)
ORDER BY (ward, metric, hour);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.ward_hourly_raw_all {{.OnCluster}}
AS {{.DB}}.ward_hourly_raw
ENGINE = {{distributed "ward_hourly_raw" "cityHash64(ward)"}};
{{end}}
CREATE TABLE IF NOT EXISTS {{.DB}}.ward_daily_raw {{.OnCluster}} (
    ward         String,
    metric       {{lc}},
    unit         {{lc}},
    day          Date,
    devices      UInt64,
    readings     UInt64,
    min_value    Float64,
    max_value    Float64,
    sum_value    Float64,
    last_value   Float64,
    last_ms      Int64,
    computed_ms  Int64
) ENGINE = {{if .Cluster}}ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{{.DB}}/ward_daily_raw', '{replica}', computed_ms){{else}}ReplacingMergeTree(computed_ms){{end}}
PARTITION BY toYYYYMM(day)
ORDER BY (ward, metric, day);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.ward_daily_raw_all {{.OnCluster}}
AS {{.DB}}.ward_daily_raw
ENGINE = {{distributed "ward_daily_raw" "cityHash64(ward)"}};
{{end}}
-- The rollup job's watermark: every hour before done_through is computed,
-- and rows inserted into sensor_readings_raw before inserted_through (server
-- time, less a margin) are counted. The row with the highest updated_ms wins.
CREATE TABLE IF NOT EXISTS {{.DB}}.rollup_state {{.OnCluster}} (
    name              String,
    done_through      DateTime('Asia/Ho_Chi_Minh'),
    inserted_through  DateTime,
    updated_ms        Int64
) ENGINE = {{if .Cluster}}ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{{.DB}}/rollup_state', '{replica}', updated_ms){{else}}ReplacingMergeTree(updated_ms){{end}}
ORDER BY name;
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.rollup_state_all {{.OnCluster}}
AS {{.DB}}.rollup_state
ENGINE = {{distributed "rollup_state" "cityHash64(name)"}};
{{end}}
-- What analysts query: one row per device, metric and hour (or day), with
-- the mean. Times are Son La's (Asia/Ho_Chi_Minh).
CREATE VIEW IF NOT EXISTS {{.DB}}.sensor_hourly {{.OnCluster}} AS
SELECT device_id, partner, metric, ward, unit, hour, readings, min_value, max_value,
       sum_value / readings AS mean_value, last_value, first_ms, last_ms
FROM {{.DB}}.{{.ReadTable "sensor_hourly_raw"}} FINAL;

CREATE VIEW IF NOT EXISTS {{.DB}}.sensor_daily {{.OnCluster}} AS
SELECT device_id, partner, metric, ward, unit, day, readings, min_value, max_value,
       sum_value / readings AS mean_value, last_value, first_ms, last_ms
FROM {{.DB}}.{{.ReadTable "sensor_daily_raw"}} FINAL;

CREATE VIEW IF NOT EXISTS {{.DB}}.ward_hourly {{.OnCluster}} AS
SELECT ward, metric, unit, hour, devices, readings, min_value, max_value,
       sum_value / readings AS mean_value, last_value, last_ms
FROM {{.DB}}.{{.ReadTable "ward_hourly_raw"}} FINAL;

CREATE VIEW IF NOT EXISTS {{.DB}}.ward_daily {{.OnCluster}} AS
SELECT ward, metric, unit, day, devices, readings, min_value, max_value,
       sum_value / readings AS mean_value, last_value, last_ms
FROM {{.DB}}.{{.ReadTable "ward_daily_raw"}} FINAL;
