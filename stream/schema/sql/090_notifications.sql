-- Notifications (docs/notifications.md): one row per attempt of the
-- notifier (`ioc notify`, also in `ioc run`) to tell people of an alert
-- transition on a channel (webhook, e-mail, Telegram, Zalo OA): sent,
-- retry (an attempt failed, another follows), failed (given up), dropped
-- (the channel's queue was full), deferred (quiet hours), cancelled (the
-- alert was acknowledged or resolved before a repeat went out).
--
-- The notifier reads the sent rows back at start so that it never sends
-- the same (channel, alert, transition, repeat) twice after a restart.
-- Admins read the table on /admin/notifications (GET
-- /api/admin/notifications, the dashboard's account: SELECT on the data
-- database); the notifier writes it with the stream's account (SELECT and
-- INSERT on the data database), so no new grant is needed on any server
-- version. `target` is masked (no address, no token): the table holds no
-- secret and no full e-mail address.
CREATE TABLE IF NOT EXISTS {{.DB}}.notification_log {{.OnCluster}} (
    record_id        String,
    at               DateTime('Asia/Ho_Chi_Minh'),
    at_ms            Int64,
    channel          {{lc}},
    channel_kind     {{lc}},
    alert_id         String,
    transition_id    String,
    notice           {{lc}},
    repeat           UInt16,
    idempotency_key  String,
    rule             {{lc}},
    severity         {{lc}},
    ward             String,
    partner          {{lc}},
    status           {{lc}},
    attempt          UInt16,
    target           String,
    error            String,
    latency_ms       UInt32,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "notification_log"}}
PARTITION BY toYYYYMM(at)
ORDER BY (at_ms, record_id);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.notification_log_all {{.OnCluster}}
AS {{.DB}}.notification_log
ENGINE = {{distributed "notification_log" "cityHash64(alert_id)"}};
{{end}}
