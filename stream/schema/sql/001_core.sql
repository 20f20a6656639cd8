-- Core tables: sensor readings and dead letters.
-- Works on ClickHouse 18.16 and on current releases. {{lc}} becomes
-- LowCardinality(String) on servers that support it without settings.

CREATE DATABASE IF NOT EXISTS {{.DB}} {{.OnCluster}};

-- Storage of readings as the stream writes them. A reading delivered twice
-- (MQTT redelivery, Kafka replay after a crash) is inserted twice here and
-- collapsed by the ReplacingMergeTree key at merge time. Analysts query the
-- view sensor_readings below, which never shows a duplicate.
CREATE TABLE IF NOT EXISTS {{.DB}}.sensor_readings_raw {{.OnCluster}} (
    event_id          String,
    partner           {{lc}},
    device_id         String,
    metric            {{lc}},
    value_kind        Enum8('number' = 1, 'string' = 2, 'bool' = 3),
    value             Float64,
    value_string      String,
    value_bool        UInt8,
    unit              {{lc}},
    observed_at       DateTime('Asia/Ho_Chi_Minh'),
    observed_ms       Int64,
    received_at       DateTime('Asia/Ho_Chi_Minh'),
    received_ms       Int64,
    time_from_source  UInt8,
    ward              String,
    registered        UInt8,
    kafka_partition   Int32,
    kafka_offset      Int64,
    inserted_at       DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "sensor_readings_raw"}}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (partner, device_id, metric, observed_ms)
SETTINGS index_granularity = 8192;
{{if .Cluster}}
-- Cluster mode only: the table over every shard. Stream inserts here and the
-- views read here. All readings of one device go to one shard, so the
-- duplicates of a reading meet in one ReplacingMergeTree and FINAL (run on
-- each shard) collapses them.
CREATE TABLE IF NOT EXISTS {{.DB}}.sensor_readings_raw_all {{.OnCluster}}
AS {{.DB}}.sensor_readings_raw
ENGINE = {{distributed "sensor_readings_raw" "cityHash64(device_id)"}};
{{end}}
-- What analysts query: one row per reading (partner, device, metric,
-- observation time), however often it was delivered.
CREATE VIEW IF NOT EXISTS {{.DB}}.sensor_readings {{.OnCluster}} AS
SELECT
    event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit,
    observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered
FROM {{.DB}}.{{.ReadTable "sensor_readings_raw"}} FINAL;

-- Input that could not become events, with the raw bytes and the reason.
CREATE TABLE IF NOT EXISTS {{.DB}}.dead_letters_raw {{.OnCluster}} (
    dl_id         String,
    received_at   DateTime('Asia/Ho_Chi_Minh'),
    received_ms   Int64,
    source        {{lc}},
    source_topic  String,
    reason        {{lc}},
    detail        String,
    raw           String,
    inserted_at   DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "dead_letters_raw"}}
PARTITION BY toYYYYMM(received_at)
ORDER BY (reason, received_ms, dl_id);
{{if .Cluster}}
-- Cluster mode only; the copies of one dead letter share dl_id, hence a shard.
CREATE TABLE IF NOT EXISTS {{.DB}}.dead_letters_raw_all {{.OnCluster}}
AS {{.DB}}.dead_letters_raw
ENGINE = {{distributed "dead_letters_raw" "cityHash64(dl_id)"}};
{{end}}
CREATE VIEW IF NOT EXISTS {{.DB}}.dead_letters {{.OnCluster}} AS
SELECT dl_id, received_at, received_ms, source, source_topic, reason, detail, raw
FROM {{.DB}}.{{.ReadTable "dead_letters_raw"}} FINAL;
