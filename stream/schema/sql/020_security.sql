-- Security tables (docs/security.md): dashboard accounts, kiosk tokens of
-- the video walls, and the audit log. They live in their own database,
-- {{.SecDB}}, beside the data database {{.DB}}: on ClickHouse 18.16, whose
-- users.xml can only allow or deny whole databases, that is what keeps
-- analysts (allowed {{.DB}} only) away from password hashes and the audit
-- trail. Works on 18.16 and on current releases.

CREATE DATABASE IF NOT EXISTS {{.SecDB}} {{.OnCluster}};

-- Dashboard accounts. A change is a new row with a higher version; readers
-- take the newest row per user (argMax by version), so no UPDATE is needed.
-- password_hash is an argon2id PHC string, never a password. epoch grows on
-- every password, role or enable/disable change: sessions issued under an
-- older epoch stop working at once.
CREATE TABLE IF NOT EXISTS {{.SecDB}}.users {{.OnCluster}} (
    username       String,
    display_name   String,
    role           String,
    password_hash  String,
    disabled       UInt8,
    epoch          UInt32,
    updated_by     String,
    updated_ms     Int64,
    version        UInt64
) ENGINE = {{engine "ReplacingMergeTree" "security_users"}}
ORDER BY username;
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.SecDB}}.users_all {{.OnCluster}}
AS {{.SecDB}}.users
ENGINE = {{distributedIn .SecDB "users" "cityHash64(username)"}};
{{end}}
-- Kiosk tokens of the video walls: long-lived, read-only, scoped to the
-- wall channel, revocable. Only the SHA-256 of the token's secret is kept.
CREATE TABLE IF NOT EXISTS {{.SecDB}}.kiosk_tokens {{.OnCluster}} (
    id           String,
    name         String,
    secret_hash  String,
    scope        String,
    revoked      UInt8,
    created_by   String,
    created_ms   Int64,
    expires_ms   Int64,
    updated_by   String,
    version      UInt64
) ENGINE = {{engine "ReplacingMergeTree" "security_kiosk_tokens"}}
ORDER BY id;
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.SecDB}}.kiosk_tokens_all {{.OnCluster}}
AS {{.SecDB}}.kiosk_tokens
ENGINE = {{distributedIn .SecDB "kiosk_tokens" "cityHash64(id)"}};
{{end}}
-- Who did what, when, from where: sign-ins (success and failure), refusals,
-- alert acknowledgements, rule, device, user and kiosk changes. Append-only;
-- the pipeline's ClickHouse user may insert and read it, never alter it.
CREATE TABLE IF NOT EXISTS {{.SecDB}}.audit_log {{.OnCluster}} (
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
) ENGINE = {{engine "ReplacingMergeTree" "security_audit_log"}}
PARTITION BY toYYYYMM(at)
ORDER BY (at_ms, event_id);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.SecDB}}.audit_log_all {{.OnCluster}}
AS {{.SecDB}}.audit_log
ENGINE = {{distributedIn .SecDB "audit_log" "cityHash64(event_id)"}};
{{end}}
