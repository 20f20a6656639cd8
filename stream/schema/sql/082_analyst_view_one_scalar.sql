-- The analyst view with one scalar subquery instead of two (issue 19,
-- docs/clickhouse.md "Why the view is exact and fast"). 081 split the view
-- at a watermark, a scalar subquery on system.parts in each half; 18.16
-- runs a scalar subquery at each analysis of its SELECT, and a view's
-- halves are analysed twice: four watermark reads per query.
--
-- Now only the grouped half has the scalar (it needs a constant: 18.16
-- skips a part by its observed_at range only against one). The watermark
-- is rounded down to its hour, W. The half read as it is excludes the
-- hours from W's to the newest max_time of any part with an IN set, which
-- 18.16 builds once, when the query runs; it needs no pruning of its own
-- (it reads what the analyst's WHERE selects, as the raw table does). A
-- reading observed at or after W is in one of those hours (no reading is
-- newer than the newest part's max_time), one before W in none: the halves
-- are still exact complements, and the base/dirty rules are 081's.
--
-- On current releases the grouped half is FINAL with
-- do_not_merge_across_partitions_select_final (as 081). `AND 1`: see 081.
--
-- Cluster mode keeps the FINAL view of 001_core.sql: system.parts describes
-- one server, not the cluster (docs/clickhouse.md).
{{if not .Cluster}}
DROP TABLE IF EXISTS {{.DB}}.sensor_readings;

CREATE VIEW IF NOT EXISTS {{.DB}}.sensor_readings AS
SELECT
    event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit,
    observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered
FROM {{.DB}}.sensor_readings_raw
WHERE intDiv(toUInt32(observed_at), 3600) NOT IN {{template "grouped_hours" .}} AND 1
UNION ALL
{{- if .ServerAtLeast 23 3}}
SELECT
    event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit,
    observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered
FROM {{.DB}}.sensor_readings_raw FINAL
WHERE observed_at >= {{template "watermark_hour" .}}
SETTINGS do_not_merge_across_partitions_select_final = 1;
{{- else}}
SELECT
    any(event_id) AS event_id, partner, device_id, metric,
    any(value_kind) AS value_kind, any(value) AS value, any(value_string) AS value_string, any(value_bool) AS value_bool, any(unit) AS unit,
    observed_at, observed_ms,
    any(received_at) AS received_at, any(received_ms) AS received_ms, any(time_from_source) AS time_from_source, any(ward) AS ward, any(registered) AS registered
FROM {{.DB}}.sensor_readings_raw
WHERE observed_at >= {{template "watermark_hour" .}} AND 1
GROUP BY partner, device_id, metric, observed_ms, observed_at;
{{- end}}
{{end}}
{{define "per_partition"}}
            SELECT arrayReduce('min', arrayConcat([toUInt32(4294967295)], arrayFilter((t, n, l, base) -> n != base OR l = 0,
                groupArray(toUInt32(min_time)), groupArray(name), groupArray(level), replicate(argMax(name, rows), groupArray(name))))) AS dirty_from,
                max(toUInt32(max_time)) AS part_max
            FROM system.parts
            WHERE database = '{{.DB}}' AND table = 'sensor_readings_raw' AND active
            GROUP BY partition{{end}}
{{define "watermark_hour"}}(SELECT toDateTime(intDiv(min(dirty_from), 3600) * 3600, 'Asia/Ho_Chi_Minh') FROM ({{template "per_partition" .}})){{end}}
{{define "grouped_hours"}}(
    SELECT toUInt32(lo + arrayJoin(range(toUInt32(if(hi >= lo, hi - lo + 1, 0))))) FROM (
        SELECT intDiv(min(dirty_from), 3600) AS lo, intDiv(max(part_max), 3600) AS hi FROM ({{template "per_partition" .}}))){{end}}
