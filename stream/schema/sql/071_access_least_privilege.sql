-- min_server: 20.5
-- One role per running program, each with only what it needs (docs/security.md,
-- "ClickHouse accounts"); 021_access_rbac.sql gave the pipeline the security
-- database as well, which let whoever holds the stream's credentials add an
-- admin account or forge audit rows. On ClickHouse 18.16 (no SQL access
-- control) deploy/local/services.sh writes the nearest users.xml equivalent.
-- Accounts carry secrets, so the city's IT creates them (docs/security.md):
--   CREATE USER ioc_pipeline  IDENTIFIED WITH sha256_hash BY '<sha256 hex>' DEFAULT ROLE {{.DB}}_pipeline;
--   CREATE USER ioc_dashboard IDENTIFIED WITH sha256_hash BY '<sha256 hex>' DEFAULT ROLE {{.DB}}_dashboard;
--   CREATE USER ioc_ingest    IDENTIFIED WITH sha256_hash BY '<sha256 hex>' DEFAULT ROLE {{.DB}}_ingest;
-- None of them is the account that runs this migration.

-- Stream (readings, dead letters, devices, feeds, KPIs): the data database
-- only. Nothing of {{.SecDB}}.
REVOKE {{.OnCluster}} ALL ON {{.SecDB}}.* FROM {{.DB}}_pipeline;

-- The dashboard: reads the data for the wall; reads and appends the accounts
-- and kiosk tokens (sign-in, /admin) and the audit log. INSERT and SELECT
-- only: no ALTER (so no ALTER ... DELETE/UPDATE of the audit log), no DROP,
-- TRUNCATE, OPTIMIZE or CREATE, and no write to the data database.
CREATE ROLE IF NOT EXISTS {{.DB}}_dashboard {{.OnCluster}};
GRANT {{.OnCluster}} SELECT ON {{.DB}}.* TO {{.DB}}_dashboard;
GRANT {{.OnCluster}} SELECT, INSERT ON {{.SecDB}}.users TO {{.DB}}_dashboard;
GRANT {{.OnCluster}} SELECT, INSERT ON {{.SecDB}}.kiosk_tokens TO {{.DB}}_dashboard;
GRANT {{.OnCluster}} SELECT, INSERT ON {{.SecDB}}.audit_log TO {{.DB}}_dashboard;
{{if .Cluster}}
GRANT {{.OnCluster}} SELECT, INSERT ON {{.SecDB}}.users_all TO {{.DB}}_dashboard;
GRANT {{.OnCluster}} SELECT, INSERT ON {{.SecDB}}.kiosk_tokens_all TO {{.DB}}_dashboard;
GRANT {{.OnCluster}} SELECT, INSERT ON {{.SecDB}}.audit_log_all TO {{.DB}}_dashboard;
{{end}}
-- Ingest: appends the audit events of refused administrative posts, and
-- reads nothing.
CREATE ROLE IF NOT EXISTS {{.DB}}_ingest {{.OnCluster}};
GRANT {{.OnCluster}} INSERT ON {{.SecDB}}.audit_log TO {{.DB}}_ingest;
{{if .Cluster}}
GRANT {{.OnCluster}} INSERT ON {{.SecDB}}.audit_log_all TO {{.DB}}_ingest;
{{end}}
