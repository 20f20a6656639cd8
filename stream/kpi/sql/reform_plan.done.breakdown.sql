-- reform_plan.done by main task, at as_of: tasks done per main task.
SELECT toString(task_area) AS key, toFloat64(countIf(last_state = 'done')) AS value
FROM (
    SELECT task_id, argMax(state, k) AS last_state, argMax(main_task, k) AS task_area
    FROM (SELECT task_id, state, main_task, (at_ms, toUInt8(state)) AS k
          FROM {{.DB}}.task_events WHERE at_ms <= {{.AsOf}} AND plan_year = {{.Year}})
    GROUP BY task_id
)
GROUP BY task_area
ORDER BY task_area
