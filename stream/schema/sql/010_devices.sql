-- Device registry and device status.
--
-- devices_raw holds every version of the declared registry
-- (deploy/devices.csv) that stream loaded; the view devices shows the
-- newest. A version is loaded only when the file's content changed, so
-- loading at every start is idempotent.
CREATE TABLE IF NOT EXISTS {{.DB}}.devices_raw {{.OnCluster}} (
    device_id        String,
    partner          {{lc}},
    device_type      {{lc}},
    ward             String,
    name             String,
    lat              Float64,
    lon              Float64,
    interval_s       UInt32,
    registry_sha256  String,
    version          Int64,
    loaded_at        DateTime('Asia/Ho_Chi_Minh')
) ENGINE = {{engine "ReplacingMergeTree" "devices_raw"}}
ORDER BY (device_id, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.devices_raw_all {{.OnCluster}}
AS {{.DB}}.devices_raw
ENGINE = {{distributed "devices_raw" "cityHash64(device_id)"}};
{{end}}
-- The registry in force: partner, type, ward, position and expected
-- reporting interval of every declared device.
CREATE VIEW IF NOT EXISTS {{.DB}}.devices {{.OnCluster}} AS
SELECT device_id, partner, device_type, ward, name, lat, lon, interval_s, loaded_at
FROM {{.DB}}.{{.ReadTable "devices_raw"}} FINAL
WHERE version = (SELECT max(version) FROM {{.DB}}.{{.ReadTable "devices_raw"}});

-- Every change of a device's status (online, stale, offline) and of a
-- partner feed's (live, silent), derived in stream from the last reading
-- against the expected interval. kind is 'device' or 'feed' (device_id
-- empty). A change derived twice has one event_id and collapses here.
CREATE TABLE IF NOT EXISTS {{.DB}}.device_status_events_raw {{.OnCluster}} (
    event_id      String,
    kind          {{lc}},
    device_id     String,
    partner       {{lc}},
    device_type   {{lc}},
    ward          String,
    status        {{lc}},
    previous      {{lc}},
    cause         {{lc}},
    at            DateTime('Asia/Ho_Chi_Minh'),
    at_ms         Int64,
    last_seen_ms  Int64,
    interval_s    UInt32,
    inserted_at   DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "device_status_events_raw"}}
PARTITION BY toYYYYMM(at)
ORDER BY (kind, partner, device_id, at_ms, event_id);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.device_status_events_raw_all {{.OnCluster}}
AS {{.DB}}.device_status_events_raw
ENGINE = {{distributed "device_status_events_raw" "cityHash64(partner, device_id)"}};
{{end}}
CREATE VIEW IF NOT EXISTS {{.DB}}.device_status_events {{.OnCluster}} AS
SELECT event_id, kind, device_id, partner, device_type, ward, status, previous, cause, at, at_ms, last_seen_ms, interval_s
FROM {{.DB}}.{{.ReadTable "device_status_events_raw"}} FINAL;

-- The current status of every device and feed: its latest change.
CREATE VIEW IF NOT EXISTS {{.DB}}.device_status {{.OnCluster}} AS
SELECT kind, partner, device_id, argMax(status, at_ms) AS status, argMax(cause, at_ms) AS cause,
       max(at_ms) AS since_ms, argMax(last_seen_ms, at_ms) AS last_seen_ms
FROM {{.DB}}.{{.ReadTable "device_status_events_raw"}}
GROUP BY kind, partner, device_id;

-- Devices that report but are not in the registry (readings stored with
-- registered = 0): what operators should declare, or chase.
CREATE VIEW IF NOT EXISTS {{.DB}}.unregistered_devices {{.OnCluster}} AS
SELECT partner, device_id, min(observed_at) AS first_seen, max(observed_at) AS last_seen,
       uniqExact(event_id) AS readings, groupUniqArray(metric) AS metrics
FROM {{.DB}}.{{.ReadTable "sensor_readings_raw"}}
WHERE registered = 0
GROUP BY partner, device_id;
