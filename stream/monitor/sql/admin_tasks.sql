-- The reform-plan tasks the task_overdue rule watches, one row per task:
-- the newest event's state, due date and header (at_ms, state, version),
-- as the KPI queries read them (docs/kpis.md). Every task not done, and
-- the done ones due within the rule's horizon.
SELECT task_id,
       argMax(title, k), argMax(toString(owner_unit), k), argMax(plan, k),
       argMax(at_ms, k), argMax(toUInt8(state), k), argMax(version, k),
       argMax(toString(state), k) AS last_state, argMax(due_ms, k) AS due
FROM (
    SELECT task_id, title, owner_unit, plan, at_ms, state, version, due_ms,
           (at_ms, toUInt8(state), version) AS k
    FROM {{raw "task_events_raw"}}
)
GROUP BY task_id
HAVING last_state != 'done' OR due >= {{.SinceMs}}
ORDER BY due DESC
LIMIT {{.MaxSubjects}}
