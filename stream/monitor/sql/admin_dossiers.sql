-- The dossiers the dossier_due rule watches, one row per dossier, derived
-- from its events as the KPI queries do (docs/kpis.md): the header and due
-- time of the newest event (at_ms, state, version), and the earliest
-- resolved, returned or withdrawn event. Every open dossier, and the
-- closed ones whose due time or closing is within the rule's horizon (a
-- late, replayed event of one must not reopen it).
SELECT dossier_id,
       argMax(procedure_code, k), argMax(toString(unit), k),
       argMax(at_ms, k), argMax(toUInt8(state), k), argMax(version, k),
       argMax(received_ms, k), argMax(due_ms, k) AS due,
       minIf(at_ms, state IN ('resolved', 'returned', 'withdrawn')) AS closed_ms,
       argMinIf(toString(state), at_ms, state IN ('resolved', 'returned', 'withdrawn'))
FROM (
    SELECT dossier_id, procedure_code, unit, at_ms, state, version, received_ms, due_ms,
           (at_ms, toUInt8(state), version) AS k
    FROM {{raw "dossier_events_raw"}}
)
GROUP BY dossier_id
HAVING closed_ms = 0 OR greatest(due, closed_ms) >= {{.SinceMs}}
ORDER BY due DESC
LIMIT {{.MaxSubjects}}
