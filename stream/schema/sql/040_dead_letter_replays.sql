-- Replays of dead letters by `ioc deadletter replay` (docs/reliability.md,
-- "Repairing dead letters"): one row per dead letter per attempt, what the
-- current decoder made of its raw bytes, and the ids of the readings it
-- produced to the readings topic. The readings keep their deterministic
-- ids, so replaying twice never doubles a reading; this table says who
-- replayed what, when, and with which outcome.
CREATE TABLE IF NOT EXISTS {{.DB}}.dead_letter_replays {{.OnCluster}} (
    dl_id         String,
    replayed_at   DateTime('Asia/Ho_Chi_Minh'),
    replayed_ms   Int64,
    outcome       {{lc}},
    reason        {{lc}},
    detail        String,
    old_reason    {{lc}},
    source_topic  String,
    event_ids     Array(String),
    operator      String,
    note          String
) ENGINE = {{engine "ReplacingMergeTree" "dead_letter_replays"}}
PARTITION BY toYYYYMM(replayed_at)
ORDER BY (dl_id, replayed_ms);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.dead_letter_replays_all {{.OnCluster}}
AS {{.DB}}.dead_letter_replays
ENGINE = {{distributed "dead_letter_replays" "cityHash64(dl_id)"}};
{{end}}
