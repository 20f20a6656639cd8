-- Drill-down of the reform-plan tiles (reform_plan.sql) at as_of, per main
-- task or per owner unit ({{.By}}): every task of the year's plan in the
-- state of its latest event by as_of.
SELECT tile, key, numerator, denominator, value
FROM (
    SELECT key, countIf(last_state = 'done') AS done, countIf(last_state = 'in_progress') AS doing,
           countIf(last_state != 'done' AND due < {{.AsOf}}) AS overdue, count() AS total
    FROM (
        SELECT task_id, argMax(state, (at_ms, toUInt8(state), version)) AS last_state,
               argMax(due_ms, (at_ms, toUInt8(state), version)) AS due,
               {{if eq .By "unit"}}toString(argMax(owner_unit, (at_ms, toUInt8(state), version))){{else}}toString(argMax(main_task, (at_ms, toUInt8(state), version))){{end}} AS key
        FROM {{raw "task_events_raw"}}
        WHERE at_ms <= {{.AsOf}} AND plan_year = {{.Year}}
        GROUP BY task_id
    )
    GROUP BY key
)
ARRAY JOIN
    ['reform_plan.done', 'reform_plan.in_progress', 'reform_plan.overdue'] AS tile,
    [toFloat64(done), toFloat64(doing), toFloat64(overdue)] AS numerator,
    [toNullable(toFloat64(total)), toNullable(toFloat64(total)), toNullable(toFloat64(total))] AS denominator,
    [if(total = 0, NULL, done / total * 100), toNullable(toFloat64(doing)), toNullable(toFloat64(overdue))] AS value
ORDER BY tile, key
