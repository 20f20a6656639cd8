-- min_server: 20.5
-- The notifier's own role (docs/notifications.md, docs/security.md): it
-- reads back what it sent and appends its records to notification_log, and
-- reads the open alerts at start (alert_events_raw); nothing else. Without an account of this role (clickhouse.accounts.notify)
-- the notifier runs as the stream's account, whose SELECT and INSERT on the
-- data database cover the table; on ClickHouse 18.16 (no SQL access
-- control) that is the only way. Admins read the table through the
-- dashboard's account (SELECT on the data database, 071).
--   CREATE USER svc_notify IDENTIFIED WITH sha256_hash BY '<sha256 hex>' DEFAULT ROLE {{.DB}}_notify;
CREATE ROLE IF NOT EXISTS {{.DB}}_notify {{.OnCluster}};
GRANT {{.OnCluster}} SELECT, INSERT ON {{.DB}}.notification_log TO {{.DB}}_notify;
GRANT {{.OnCluster}} SELECT ON {{.DB}}.alert_events_raw TO {{.DB}}_notify;
{{if .Cluster}}
GRANT {{.OnCluster}} SELECT, INSERT ON {{.DB}}.notification_log_all TO {{.DB}}_notify;
GRANT {{.OnCluster}} SELECT ON {{.DB}}.alert_events_raw_all TO {{.DB}}_notify;
{{end}}
