-- The audit log becomes append-only (docs/security.md, "The audit log").
-- 020_security.sql made it a ReplacingMergeTree, where a row inserted with
-- the key (at_ms, event_id) of an existing row replaces it at the next merge:
-- whoever may insert could rewrite history. A plain MergeTree never replaces
-- or removes a row; readers collapse only rows identical in every column (a
-- batch the writer sent again after an error), so a forged row with an
-- existing key shows beside the original.
--
-- The table keeps its name: a MergeTree table is created, swapped in by
-- RENAME, and the old rows are copied into it (all of them, also the
-- replaced ones not yet merged away). Each step is guarded by what the
-- server holds (-- only_if), so that a migration interrupted anywhere
-- completes when it is applied again; writers that insert meanwhile write
-- into whichever table is called audit_log at that moment, and the copy
-- keeps those rows too.

-- only_if: SELECT count() FROM system.tables WHERE database = '{{.SecDB}}' AND name = 'audit_log' AND engine LIKE '%ReplacingMergeTree'
CREATE TABLE IF NOT EXISTS {{.SecDB}}.audit_log_append {{.OnCluster}} (
    event_id     String,
    at           DateTime('Asia/Ho_Chi_Minh'),
    at_ms        Int64,
    actor        String,
    actor_role   String,
    action       String,
    target       String,
    outcome      String,
    reason       String,
    remote_addr  String,
    user_agent   String,
    detail       String,
    service      String
) ENGINE = {{engine "MergeTree" "security_audit_log_append"}}
PARTITION BY toYYYYMM(at)
ORDER BY (at_ms, event_id);

-- only_if: SELECT count() FROM system.tables WHERE database = '{{.SecDB}}' AND name = 'audit_log' AND engine LIKE '%ReplacingMergeTree'
RENAME TABLE {{.SecDB}}.audit_log TO {{.SecDB}}.audit_log_replacing, {{.SecDB}}.audit_log_append TO {{.SecDB}}.audit_log {{.OnCluster}};

-- only_if: SELECT count() FROM system.tables WHERE database = '{{.SecDB}}' AND name = 'audit_log_replacing'
INSERT INTO {{.SecDB}}.{{.ReadTable "audit_log"}} (event_id, at, at_ms, actor, actor_role, action, target, outcome, reason, remote_addr, user_agent, detail, service)
SELECT event_id, at, at_ms, actor, actor_role, action, target, outcome, reason, remote_addr, user_agent, detail, service
FROM {{if .Cluster}}cluster('{{.Cluster}}', {{.SecDB}}, audit_log_replacing){{else}}{{.SecDB}}.audit_log_replacing{{end}}
WHERE (at_ms, event_id) {{if .Cluster}}GLOBAL {{end}}NOT IN (SELECT at_ms, event_id FROM {{.SecDB}}.{{.ReadTable "audit_log"}});

DROP TABLE IF EXISTS {{.SecDB}}.audit_log_replacing {{.OnCluster}};
