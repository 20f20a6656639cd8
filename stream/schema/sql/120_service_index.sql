-- The service index of Decision 766/QĐ-TTg (docs/service-index.md): the
-- optional fields of the dossier and procedure contracts, and the citizens'
-- feedback (PAKN). Columns are added with defaults, so rows written before
-- keep their meaning: -1 (or 0 for times) is "not reported", which the
-- index counts as "not met". Works on 18.16 and current releases; each
-- ALTER runs only if its first column is still missing, so a migration
-- interrupted anywhere can run again. The pipeline and dashboard roles
-- read and write these through their grants on the whole data database
-- (021, 071): nothing to grant here.

-- only_if: SELECT toUInt64(count() = 0) FROM system.columns WHERE database = '{{.DB}}' AND table = 'dossier_events_raw' AND name = 'full_online'
ALTER TABLE {{.DB}}.dossier_events_raw {{.OnCluster}}
    ADD COLUMN full_online       Int8  DEFAULT -1,
    ADD COLUMN fee_vnd           Int64 DEFAULT -1,
    ADD COLUMN paid_online       Int8  DEFAULT -1,
    ADD COLUMN inputs            Int16 DEFAULT -1,
    ADD COLUMN inputs_digitised  Int16 DEFAULT -1,
    ADD COLUMN inputs_reused     Int16 DEFAULT -1,
    ADD COLUMN inputs_from_store Int16 DEFAULT -1,
    ADD COLUMN inputs_verified   Int16 DEFAULT -1,
    ADD COLUMN e_result          Int8  DEFAULT -1,
    ADD COLUMN result_to_store   Int8  DEFAULT -1,
    ADD COLUMN e_certified_copy  Int8  DEFAULT -1,
    ADD COLUMN synced_national   Int8  DEFAULT -1,
    ADD COLUMN applicant_rating  String DEFAULT '';
{{if .Cluster}}
-- Its Distributed table is re-created from the altered local one: 18.16
-- refuses ALTER ... ON CLUSTER on a Distributed table whose shards are
-- replicated (code 371), and it holds no rows (every insert through it
-- is insert_distributed_sync, chconn).
-- only_if: SELECT toUInt64(count() = 0) FROM system.columns WHERE database = '{{.DB}}' AND table = 'dossier_events_raw_all' AND name = 'full_online'
DROP TABLE IF EXISTS {{.DB}}.dossier_events_raw_all {{.OnCluster}};
CREATE TABLE IF NOT EXISTS {{.DB}}.dossier_events_raw_all {{.OnCluster}}
AS {{.DB}}.dossier_events_raw
ENGINE = {{distributed "dossier_events_raw" "cityHash64(dossier_id)"}};
{{end}}
-- only_if: SELECT toUInt64(count() = 0) FROM system.columns WHERE database = '{{.DB}}' AND table = 'procedure_events_raw' AND name = 'decision_ms'
ALTER TABLE {{.DB}}.procedure_events_raw {{.OnCluster}}
    ADD COLUMN decision_ms        Int64 DEFAULT 0,
    ADD COLUMN basis_in_force_ms  Int64 DEFAULT 0,
    ADD COLUMN posted_ms          Int64 DEFAULT 0,
    ADD COLUMN posted_complete    Int8  DEFAULT -1,
    ADD COLUMN full_online        Int8  DEFAULT -1,
    ADD COLUMN fee_bearing        Int8  DEFAULT -1,
    ADD COLUMN online_payment     Int8  DEFAULT -1,
    ADD COLUMN paper_result       Int8  DEFAULT -1;
{{if .Cluster}}
-- Its Distributed table is re-created from the altered local one: 18.16
-- refuses ALTER ... ON CLUSTER on a Distributed table whose shards are
-- replicated (code 371), and it holds no rows (every insert through it
-- is insert_distributed_sync, chconn).
-- only_if: SELECT toUInt64(count() = 0) FROM system.columns WHERE database = '{{.DB}}' AND table = 'procedure_events_raw_all' AND name = 'decision_ms'
DROP TABLE IF EXISTS {{.DB}}.procedure_events_raw_all {{.OnCluster}};
CREATE TABLE IF NOT EXISTS {{.DB}}.procedure_events_raw_all {{.OnCluster}}
AS {{.DB}}.procedure_events_raw
ENGINE = {{distributed "procedure_events_raw" "cityHash64(code)"}};
{{end}}
-- Citizens' feedback and petitions (PAKN): one row per state change
-- (received, answered, reacted), with the likes and dislikes counted so far
-- on reacted rows. Ids are opaque; neither sender nor text is stored.
CREATE TABLE IF NOT EXISTS {{.DB}}.feedback_events_raw {{.OnCluster}} (
    event_id         String,
    feedback_id      String,
    unit             {{lc}},
    state            Enum8('received' = 1, 'answered' = 2, 'reacted' = 3),
    at               DateTime('Asia/Ho_Chi_Minh'),
    at_ms            Int64,
    received_at      DateTime('Asia/Ho_Chi_Minh'),
    received_ms      Int64,
    due_at           DateTime('Asia/Ho_Chi_Minh'),
    due_ms           Int64,
    likes            Int32 DEFAULT -1,
    dislikes         Int32 DEFAULT -1,
    version          Int64,
    source           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "feedback_events_raw"}}
PARTITION BY toYear(at)
ORDER BY (feedback_id, at_ms, state, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.feedback_events_raw_all {{.OnCluster}}
AS {{.DB}}.feedback_events_raw
ENGINE = {{distributed "feedback_events_raw" "cityHash64(feedback_id)"}};
{{end}}
