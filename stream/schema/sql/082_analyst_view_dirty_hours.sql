-- The analyst view, its split read once per half and by the hour (issue 19,
-- docs/clickhouse.md "Why the view is exact and fast"). 081 split the view
-- at a watermark, a scalar subquery on system.parts in each half: 18.16
-- runs a scalar subquery each time it analyses a SELECT, and a view's halves
-- are analysed twice, so every query read system.parts four times (about
-- 10 ms, the README's 24 h query 1.7 x the raw table).
--
-- Now the split is a set read by `IN (subquery)`, which 18.16 runs once per
-- half, at execution: the HOURS covered by a dirty part. As in 081, the
-- largest active part of each monthly partition is its base when it has
-- level > 0 (a merge, one row per key); every other active part, and a base
-- of level 0, is dirty. The set is every hour (intDiv of the Unix time by
-- 3600) from a dirty part's min_time to its max_time.
--
-- A reading in a dirty part lies in one of those hours; so does every other
-- copy of it (same observed_at), wherever it is. A reading observed in any
-- other hour is in no dirty part, hence only in its month's base, once:
-- read as it is. Readings in the dirty hours are grouped by the key. After
-- a replay of an old slot only that slot's hours are grouped, not every
-- month from it to now as with 081's single watermark.
--
-- `ioc dedup` (every 10 minutes) merges the partitions with a dirty part,
-- which empties the set but for the inserts of the last minutes.
--
-- On current releases the grouped half is FINAL with
-- do_not_merge_across_partitions_select_final (as 081). `AND 1`: see 081
-- (18.16 moves the analyst's most selective condition to PREWHERE only then).
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
WHERE intDiv(toUInt32(observed_at), 3600) NOT IN {{template "dirty_hours" .}} AND 1
UNION ALL
{{- if .ServerAtLeast 23 3}}
SELECT
    event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit,
    observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered
FROM {{.DB}}.sensor_readings_raw FINAL
WHERE intDiv(toUInt32(observed_at), 3600) IN {{template "dirty_hours" .}}
SETTINGS do_not_merge_across_partitions_select_final = 1;
{{- else}}
SELECT
    any(event_id) AS event_id, partner, device_id, metric,
    any(value_kind) AS value_kind, any(value) AS value, any(value_string) AS value_string, any(value_bool) AS value_bool, any(unit) AS unit,
    observed_at, observed_ms,
    any(received_at) AS received_at, any(received_ms) AS received_ms, any(time_from_source) AS time_from_source, any(ward) AS ward, any(registered) AS registered
FROM {{.DB}}.sensor_readings_raw
WHERE intDiv(toUInt32(observed_at), 3600) IN {{template "dirty_hours" .}} AND 1
GROUP BY partner, device_id, metric, observed_ms, observed_at;
{{- end}}
{{end}}
{{define "dirty_hours"}}(
    SELECT toUInt32(hours.1 + arrayJoin(range(toUInt32(hours.2 - hours.1 + 1)))) FROM (
        SELECT arrayJoin(arrayFilter((h, n, l, base) -> n != base OR l = 0,
            groupArray((intDiv(toUInt32(min_time), 3600), intDiv(toUInt32(max_time), 3600))),
            groupArray(name), groupArray(level), replicate(argMax(name, (rows, name)), groupArray(name)))) AS hours
        FROM system.parts
        WHERE database = '{{.DB}}' AND table = 'sensor_readings_raw' AND active
        GROUP BY partition)){{end}}
