-- The latest status change of every device and feed.
--
-- No time bound, unlike last_seen.sql: a device offline (or online) since
-- before any bound keeps that status until a reading or the clock changes
-- it, and the tracker must know it, or every restart announces it again
-- (TestSeedKeepsOldStatus). The table holds status CHANGES, not readings: a
-- few per device per day at most (about 1.5 million rows a year for 2,000
-- flapping devices), read once at start-up. To bound it, keep the latest
-- status per device in its own table (a materialized view: argMax is
-- idempotent, so redelivered events do no harm) and read that.
SELECT kind, partner, device_id, argMax(status, at_ms), max(at_ms)
FROM {{raw "device_status_events_raw"}}
GROUP BY kind, partner, device_id
