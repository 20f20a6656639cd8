-- The analyst view at a year's scale (issue 19, docs/clickhouse.md "Why the
-- view is exact and fast"). sensor_readings used to read the whole raw table
-- with FINAL: a merge of every part at every query, and on 18.16 a query's
-- WHERE never reaches below FINAL, so every query read the whole table.
-- Now `ioc retention` (daily) merges each closed month once with
-- OPTIMIZE ... PARTITION ... FINAL and records it in dedup_log. The view
-- reads the months before a watermark as they are (one row per key since
-- that merge), and the months from the watermark on grouped by the key (one
-- row per reading, any copy's values; unlike FINAL, a WHERE on the key or the
-- observation time is applied before the grouping).
--
-- The watermark, evaluated at each query (scalar subqueries: two tiny reads):
--   the lowest of
--   * max(closed_before) in dedup_log: the month start before which every
--     month is older than ingest.max_past and was merged by the job (0 before
--     the job's first run: every month grouped by the key);
--   * the start of the oldest month whose active parts are not exactly one
--     merged part (count() > 1, or its only part has level 0 = an insert not
--     yet merged): a late or replayed reading that lands in a closed month
--     moves the watermark back below that month until the job merges it again.
-- A month with one active part of level > 0 is the product of a merge, which
-- in a ReplacingMergeTree keeps one row per key: reading it without FINAL is
-- exact.
--
-- ClickHouse 18.16 pushes the analyst's WHERE into a view only with
-- enable_optimize_predicate_expression = 1 (the default profile of
-- deploy/local sets it; the default from 19.x on): both halves are then
-- pruned by month like the raw table.
--
-- Cluster mode keeps the FINAL view of 001_core.sql and has no dedup_log yet:
-- system.parts describes one server, not the cluster (docs/clickhouse.md).
{{if not .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.dedup_log (
    table          String,
    partition      String,
    closed_before  DateTime('Asia/Ho_Chi_Minh'),
    parts_before   UInt64,
    rows_before    UInt64,
    rows_after     UInt64,
    started_at     DateTime('Asia/Ho_Chi_Minh'),
    done_at        DateTime('Asia/Ho_Chi_Minh')
) ENGINE = MergeTree()
ORDER BY (table, done_at);
DROP TABLE IF EXISTS {{.DB}}.sensor_readings;

CREATE VIEW IF NOT EXISTS {{.DB}}.sensor_readings AS
SELECT
    event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit,
    observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered
FROM {{.DB}}.sensor_readings_raw
WHERE observed_at < {{template "watermark" .}}
UNION ALL
SELECT
    any(event_id) AS event_id, partner, device_id, metric,
    any(value_kind) AS value_kind, any(value) AS value, any(value_string) AS value_string, any(value_bool) AS value_bool, any(unit) AS unit,
    observed_at, observed_ms,
    any(received_at) AS received_at, any(received_ms) AS received_ms, any(time_from_source) AS time_from_source, any(ward) AS ward, any(registered) AS registered
FROM {{.DB}}.sensor_readings_raw
WHERE observed_at >= {{template "watermark" .}}
GROUP BY partner, device_id, metric, observed_ms, observed_at;
{{end}}
{{define "watermark"}}(SELECT toDateTime(least(
        (SELECT toUInt32(max(closed_before)) FROM {{.DB}}.dedup_log WHERE table = 'sensor_readings_raw'),
        (SELECT if(count() = 0, toUInt32(4294967295), min(month_start)) FROM (
            SELECT toUInt32(toDateTime(toDate(concat(substring(partition, 1, 4), '-', substring(partition, 5, 2), '-01')), 'Asia/Ho_Chi_Minh')) AS month_start
            FROM system.parts
            WHERE database = '{{.DB}}' AND table = 'sensor_readings_raw' AND active
            GROUP BY partition, month_start
            HAVING count() > 1 OR max(level) = 0))),
    'Asia/Ho_Chi_Minh')){{end}}
