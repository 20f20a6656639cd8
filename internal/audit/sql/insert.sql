-- A batch of audit events (Writer); columns in the order of its Append.
INSERT INTO {{sec "audit_log"}} (event_id, at, at_ms, actor, actor_role, action, target, outcome, reason, remote_addr, user_agent, detail, service)
