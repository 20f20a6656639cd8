-- The analyst view's watermark as a stored value (issue 19,
-- docs/clickhouse.md "Why the view is exact and fast"). 081 computed it at
-- each query from system.parts, which 18.16 evaluates about four times per
-- query (some 2 ms each on a server with many tables: the README's hourly
-- query stayed at 1.6-1.7 x the raw table). Now it is read from
-- analyst_watermark, a table of a few rows (about 0.5 ms per read):
--
--   grouped_from = min(grouped_from) over its rows
--
-- * `ioc dedup` writes one row (source 'dedup'): after its merges, the
--   oldest observed_at of any part that is not its partition's merged base
--   (the 081 rule, dedup.go viewWatermark), or 2106 when there is none; and
--   then deletes the rows of earlier runs and the writers' rows set more
--   than schema.WatermarkGrace (5 min) before it started.
-- * every writer of sensor_readings_raw (stream's flush, hence every
--   replay, backfill and late reading: they all come through Kafka) inserts
--   a row (source 'writer') BEFORE it inserts a batch observed earlier than
--   what its own last row covers, or when that row is older than half the
--   grace (schema.Lowerer). A reading is therefore never inserted below the
--   watermark: a redelivery into a merged month is grouped from its own
--   time on, until the next `ioc dedup` merges it.
-- * no row at all (a new install, before the first dedup) reads as 1970:
--   every reading grouped, exact and slow.
--
-- Rows only ever lower the minimum; only `ioc dedup` deletes, and only rows
-- whose batches were visible in system.parts when it read them.
--
-- Cluster mode keeps the FINAL view of 001_core.sql (docs/clickhouse.md).
{{if not .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.analyst_watermark (
    grouped_from  DateTime('Asia/Ho_Chi_Minh'),
    source        String,
    run           String,
    set_at        DateTime DEFAULT now()
) ENGINE = MergeTree()
ORDER BY set_at;
DROP TABLE IF EXISTS {{.DB}}.sensor_readings;

CREATE VIEW IF NOT EXISTS {{.DB}}.sensor_readings AS
SELECT
    event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit,
    observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered
FROM {{.DB}}.sensor_readings_raw
WHERE observed_at < {{template "watermark" .}} AND 1
UNION ALL
{{- if .ServerAtLeast 23 3}}
SELECT
    event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit,
    observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered
FROM {{.DB}}.sensor_readings_raw FINAL
WHERE observed_at >= {{template "watermark" .}}
SETTINGS do_not_merge_across_partitions_select_final = 1;
{{- else}}
SELECT
    any(event_id) AS event_id, partner, device_id, metric,
    any(value_kind) AS value_kind, any(value) AS value, any(value_string) AS value_string, any(value_bool) AS value_bool, any(unit) AS unit,
    observed_at, observed_ms,
    any(received_at) AS received_at, any(received_ms) AS received_ms, any(time_from_source) AS time_from_source, any(ward) AS ward, any(registered) AS registered
FROM {{.DB}}.sensor_readings_raw
WHERE observed_at >= {{template "watermark" .}} AND 1
GROUP BY partner, device_id, metric, observed_ms, observed_at;
{{- end}}
{{end}}
{{define "watermark"}}(SELECT min(grouped_from) FROM {{.DB}}.analyst_watermark){{end}}
