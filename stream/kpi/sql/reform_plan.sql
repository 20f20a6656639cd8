-- Tiles reform_plan.done, reform_plan.in_progress and reform_plan.overdue.
-- At each point, every task of the year's plan known by then is in the
-- state of its latest event: done, in progress (or assigned, not started).
--   done         tasks done, of all the plan's tasks (%; target 100)
--   in_progress  tasks in progress (count; denominator: all the plan's tasks)
--   overdue      tasks not done whose due date (the whole day, city time)
--                has passed at the point (count; target 0)
SELECT tile, toInt64(p) AS point, numerator, denominator, value, target
FROM (
    SELECT p, countIf(last_state = 'done') AS done, countIf(last_state = 'in_progress') AS doing,
              countIf(last_state != 'done' AND due < p) AS overdue, count() AS total
    FROM (
        SELECT p, task_id, argMax(state, (at_ms, toUInt8(state), version)) AS last_state,
               argMax(due_ms, (at_ms, toUInt8(state), version)) AS due
        FROM {{raw "task_events_raw"}}
        ARRAY JOIN {{.Points}} AS p
        WHERE at_ms <= p AND plan_year = {{.Year}}
        GROUP BY p, task_id
    )
    GROUP BY p
)
ARRAY JOIN
    ['reform_plan.done', 'reform_plan.in_progress', 'reform_plan.overdue'] AS tile,
    [toFloat64(done), toFloat64(doing), toFloat64(overdue)] AS numerator,
    [toNullable(toFloat64(total)), toNullable(toFloat64(total)), toNullable(toFloat64(total))] AS denominator,
    [if(total = 0, NULL, done / total * 100), toNullable(toFloat64(doing)), toNullable(toFloat64(overdue))] AS value,
    [toNullable(100.), CAST(NULL AS Nullable(Float64)), toNullable(0.)] AS target
ORDER BY tile, point
