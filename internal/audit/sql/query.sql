-- The audit log rows matching the filter's conditions (Where, joined by
-- AND; their values are the query's arguments), newest first. DISTINCT
-- collapses only rows identical in every column (a batch sent again after
-- an error); a row that reuses an event's id with other content is shown
-- beside it, never merged into it (the table is append-only:
-- 070_audit_log_append_only.sql). Limit 0: every row (an export).
SELECT DISTINCT event_id, at_ms, actor, actor_role, action, target, outcome,
       reason, remote_addr, user_agent, detail, service
FROM {{sec "audit_log"}}
WHERE {{range $i, $w := .Where}}{{if $i}} AND {{end}}{{$w}}{{end}}
ORDER BY at_ms DESC, event_id
{{if .Limit}}LIMIT {{.Limit}}{{end}}
