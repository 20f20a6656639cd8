-- The live device registry (docs/operations.md, "Device registry"): every
-- version of every device's entry, as the compacted Kafka topic
-- ioc.devices.v1 carries it: seeded from deploy/devices.csv, then changed
-- from the admin page or `ioc device` without a restart. stream stores each
-- record here; a record stored twice collapses (same device and version).
-- alarms (per-rule alarm levels) and maintenance (windows) are JSON.
CREATE TABLE IF NOT EXISTS {{.DB}}.device_registry_raw {{.OnCluster}} (
    device_id    String,
    partner      String,
    device_type  String,
    ward         String,
    name         String,
    lat          Float64,
    lon          Float64,
    interval_s   UInt32,
    alarms       String,
    maintenance  String,
    retired      UInt8,
    version      Int64,
    actor        String,
    source       String,
    note         String,
    changed_at   DateTime('Asia/Ho_Chi_Minh')
) ENGINE = {{engine "ReplacingMergeTree" "device_registry_raw"}}
ORDER BY (device_id, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.device_registry_raw_all {{.OnCluster}}
AS {{.DB}}.device_registry_raw
ENGINE = {{distributed "device_registry_raw" "cityHash64(device_id)"}};
{{end}}
-- The newest entry of every device, retired ones included.
CREATE VIEW IF NOT EXISTS {{.DB}}.device_registry {{.OnCluster}} AS
SELECT device_id, partner, device_type, ward, name, lat, lon, interval_s, alarms, maintenance, retired,
       newest AS version, actor, source, changed_at
FROM (
    SELECT device_id, argMax(partner, version) AS partner, argMax(device_type, version) AS device_type,
           argMax(ward, version) AS ward, argMax(name, version) AS name, argMax(lat, version) AS lat,
           argMax(lon, version) AS lon, argMax(interval_s, version) AS interval_s, argMax(alarms, version) AS alarms,
           argMax(maintenance, version) AS maintenance, argMax(retired, version) AS retired, max(version) AS newest,
           argMax(actor, version) AS actor, argMax(source, version) AS source, argMax(changed_at, version) AS changed_at
    FROM {{.DB}}.{{.ReadTable "device_registry_raw"}}
    GROUP BY device_id
);

-- The registry in force is now the live one: the view devices (same
-- columns as before) shows every device not retired.
DROP TABLE IF EXISTS {{.DB}}.devices {{.OnCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.devices {{.OnCluster}} AS
SELECT device_id, partner, device_type, ward, name, lat, lon, interval_s, changed_at AS loaded_at
FROM (
    SELECT device_id, argMax(partner, version) AS partner, argMax(device_type, version) AS device_type,
           argMax(ward, version) AS ward, argMax(name, version) AS name, argMax(lat, version) AS lat,
           argMax(lon, version) AS lon, argMax(interval_s, version) AS interval_s, argMax(retired, version) AS retired,
           argMax(changed_at, version) AS changed_at
    FROM {{.DB}}.{{.ReadTable "device_registry_raw"}}
    GROUP BY device_id
)
WHERE retired = 0;
