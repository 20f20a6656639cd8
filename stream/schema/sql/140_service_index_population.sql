-- The service index, as the national portal scores it in 2026
-- (docs/service-index.md): digitisation counts the procedures whose
-- handling reads the national population database (CITIZEN_DATA_CONNECTED_
-- FORMALITY on the portal), a field of the procedure catalogue. -1 is "not
-- reported", counted as "not met". Runs only if the column is missing, so
-- an interrupted migration can run again.
-- only_if: SELECT toUInt64(count() = 0) FROM system.columns WHERE database = '{{.DB}}' AND table = 'procedure_events_raw' AND name = 'population_linked'
ALTER TABLE {{.DB}}.procedure_events_raw {{.OnCluster}}
    ADD COLUMN population_linked Int8 DEFAULT -1;
{{if .Cluster}}
-- Its Distributed table is re-created from the altered local one (as in
-- 120: 18.16 refuses ALTER ... ON CLUSTER on a Distributed table over
-- replicated shards; it holds no rows, inserts through it are synchronous).
-- only_if: SELECT toUInt64(count() = 0) FROM system.columns WHERE database = '{{.DB}}' AND table = 'procedure_events_raw_all' AND name = 'population_linked'
DROP TABLE IF EXISTS {{.DB}}.procedure_events_raw_all {{.OnCluster}};
CREATE TABLE IF NOT EXISTS {{.DB}}.procedure_events_raw_all {{.OnCluster}}
AS {{.DB}}.procedure_events_raw
ENGINE = {{distributed "procedure_events_raw" "cityHash64(code)"}};
{{end}}
