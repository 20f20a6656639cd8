-- The latest status of every device and feed in its own table (issue 19
-- point 3): the monitor's and the wall's status seeds read one row per
-- device here instead of every status change ever stored in
-- device_status_events_raw (a year of changes at start-up, and a device
-- whose last change is older than a dropped partition was forgotten).
--
-- Fed by a materialized view on every insert into device_status_events_raw
-- (stream's flush; in cluster mode on inserts into the Distributed table,
-- written through device_status_latest_all so each device's row lands on
-- its shard); argMax and max states
-- merge idempotently, so a redelivered change, the backfill below run
-- again after an interruption, or a change inserted during it do no harm.
-- Read it with argMaxMerge / maxMerge grouped by the key (the view
-- device_status does).
CREATE TABLE IF NOT EXISTS {{.DB}}.device_status_latest {{.OnCluster}} (
    kind          {{lc}},
    partner       {{lc}},
    device_id     String,
    status        AggregateFunction(argMax, String, Int64),
    cause         AggregateFunction(argMax, String, Int64),
    since_ms      AggregateFunction(max, Int64),
    last_seen_ms  AggregateFunction(argMax, Int64, Int64)
) ENGINE = {{engine "AggregatingMergeTree" "device_status_latest"}}
ORDER BY (kind, partner, device_id);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.device_status_latest_all {{.OnCluster}}
AS {{.DB}}.device_status_latest
ENGINE = {{distributed "device_status_latest" "cityHash64(partner, device_id)"}};
{{end}}
CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.device_status_latest_mv {{.OnCluster}}
TO {{.DB}}.{{.ReadTable "device_status_latest"}} AS
SELECT kind, partner, device_id,
    argMaxState(CAST(status AS String), at_ms) AS status,
    argMaxState(CAST(cause AS String), at_ms) AS cause,
    maxState(at_ms) AS since_ms,
    argMaxState(last_seen_ms, at_ms) AS last_seen_ms
FROM {{.DB}}.{{.ReadTable "device_status_events_raw"}}
GROUP BY kind, partner, device_id;

-- The changes stored before the materialized view existed (once per
-- migration run; again after an interruption is harmless, see above).
INSERT INTO {{.DB}}.{{.ReadTable "device_status_latest"}} (kind, partner, device_id, status, cause, since_ms, last_seen_ms)
SELECT kind, partner, device_id,
    argMaxState(CAST(status AS String), at_ms),
    argMaxState(CAST(cause AS String), at_ms),
    maxState(at_ms),
    argMaxState(last_seen_ms, at_ms)
FROM {{.DB}}.{{.ReadTable "device_status_events_raw"}}
GROUP BY kind, partner, device_id;

DROP TABLE IF EXISTS {{.DB}}.device_status {{.OnCluster}};

-- The current status of every device and feed: its latest change.
CREATE VIEW IF NOT EXISTS {{.DB}}.device_status {{.OnCluster}} AS
SELECT kind, partner, device_id, argMaxMerge(status) AS status, argMaxMerge(cause) AS cause,
       maxMerge(since_ms) AS since_ms, argMaxMerge(last_seen_ms) AS last_seen_ms
FROM {{.DB}}.{{.ReadTable "device_status_latest"}}
GROUP BY kind, partner, device_id;
