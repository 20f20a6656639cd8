-- min_server: 20.5
-- Least-privilege access with ClickHouse's SQL access control (RBAC), on
-- servers that have it (20.5 and later; the migration skips this file on
-- older servers, where deploy/local/services.sh writes the same rules into
-- users.xml). Roles, settings profile and quota only: accounts carry
-- secrets, so the city's IT creates them from a password kept outside the
-- repository (docs/security.md, "ClickHouse accounts"):
--   CREATE USER ioc_stream IDENTIFIED WITH sha256_hash BY '<sha256 hex>' DEFAULT ROLE {{.DB}}_pipeline;
--   CREATE USER analyst_lan IDENTIFIED WITH sha256_hash BY '<sha256 hex>' DEFAULT ROLE {{.DB}}_analyst;
-- The migrating account needs access management (CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT=1
-- in docker-compose.yml, or GRANT ... WITH GRANT OPTION).

-- The pipeline (ingest has no ClickHouse access; stream and dashboard do):
-- read and insert its tables, nothing else: no CREATE, ALTER, DROP or
-- TRUNCATE. The migration runs under a separate, administrative account.
CREATE ROLE IF NOT EXISTS {{.DB}}_pipeline {{.OnCluster}};
GRANT {{.OnCluster}} SELECT, INSERT ON {{.DB}}.* TO {{.DB}}_pipeline;
GRANT {{.OnCluster}} SELECT, INSERT ON {{.SecDB}}.* TO {{.DB}}_pipeline;

-- Analysts: read the data database only; nothing of {{.SecDB}} (accounts,
-- kiosk tokens, audit log). Bounded queries: time, memory, result size,
-- and an hourly quota.
CREATE ROLE IF NOT EXISTS {{.DB}}_analyst {{.OnCluster}};
GRANT {{.OnCluster}} SELECT ON {{.DB}}.* TO {{.DB}}_analyst;
CREATE SETTINGS PROFILE IF NOT EXISTS {{.DB}}_analyst {{.OnCluster}}
SETTINGS readonly = 1, max_execution_time = 60, max_memory_usage = 4000000000,
         max_result_rows = 1000000, result_overflow_mode = 'throw', max_threads = 2
TO {{.DB}}_analyst;
CREATE QUOTA IF NOT EXISTS {{.DB}}_analyst {{.OnCluster}}
FOR INTERVAL 1 hour MAX queries = 1000, errors = 200, read_rows = 20000000000, execution_time = 3600
TO {{.DB}}_analyst;

-- Auditors: the audit log, read-only.
CREATE ROLE IF NOT EXISTS {{.DB}}_auditor {{.OnCluster}};
GRANT {{.OnCluster}} SELECT ON {{.SecDB}}.audit_log TO {{.DB}}_auditor;
