-- The analyst view, open months as cheap as closed ones (issue 19,
-- docs/clickhouse.md "Why the view is exact and fast"). 080 split the view
-- at a month watermark and grouped every open month by the key at every
-- query: 5-36 x the raw table. Now the split is per part, read from
-- system.parts at each query (one tiny read):
--
-- * In each monthly partition the largest active part, if it has level > 0
--   (the product of a merge, which in a ReplacingMergeTree keeps one row per
--   key), is the partition's BASE: it holds no duplicate within itself.
-- * Every other active part (inserts since the last merge, a replay) is
--   DIRTY, and so is a base of level 0 (an insert never merged).
-- * The watermark is the oldest observed_at in any dirty part (min_time of
--   system.parts), or 2106 when there is none.
--
-- A reading observed before the watermark is in no dirty part, hence only
-- in its partition's base, once: read as it is. Readings from the watermark
-- on are grouped by the key. `ioc dedup` (every 10 minutes) merges every
-- partition that has a dirty part (OPTIMIZE ... PARTITION p FINAL), which
-- moves the watermark up to the inserts of the last minutes; a late reading
-- or a replay moves it back to its own observation time until the next run.
--
-- On current releases the grouped half is FINAL with
-- do_not_merge_across_partitions_select_final: a streaming merge of sorted
-- parts per partition instead of a hash table (less memory, parallel FINAL).
-- 18.16 keeps the GROUP BY (its FINAL ignores the WHERE).
--
-- `AND 1` is for 18.16: with a single condition in a half's WHERE, the
-- analyst's pushed-down WHERE lands nested and is never moved to PREWHERE,
-- so every column of the rows read is read (3 x the raw table's bytes for
-- the README's hourly query); with two, it is flattened and its most
-- selective condition (metric = ...) becomes the PREWHERE, as on the raw
-- table.
--
-- Cluster mode keeps the FINAL view of 001_core.sql: system.parts
-- describes one server, not the cluster (docs/clickhouse.md).
{{if not .Cluster}}
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
{{define "watermark"}}(SELECT toDateTime(if(count() = 0, toUInt32(4294967295), min(dirty_from)), 'Asia/Ho_Chi_Minh') FROM (
        SELECT arrayJoin(arrayFilter((t, n, l, base) -> n != base OR l = 0,
            groupArray(toUInt32(min_time)), groupArray(name), groupArray(level), replicate(argMax(name, rows), groupArray(name)))) AS dirty_from
        FROM system.parts
        WHERE database = '{{.DB}}' AND table = 'sensor_readings_raw' AND active
        GROUP BY partition)){{end}}
