-- The latest status of every device and feed: one row per device and feed
-- from device_status_latest (131_device_status_latest.sql), fed by a
-- materialized view on device_status_events_raw. No time bound is needed
-- and none is wanted: a device offline (or online) since long ago keeps
-- that status until a reading or the clock changes it, and the tracker must
-- know it, or every restart announces it again (TestSeedKeepsOldStatus);
-- the table holds one row per device however old its last change is
-- (TestSeedReadsLatestStatusTable).
SELECT kind, partner, device_id, argMaxMerge(status), maxMerge(since_ms)
FROM {{raw "device_status_latest"}}
GROUP BY kind, partner, device_id
