-- The dossiers behind dossiers.late ({{.State}} = late) or
-- dossiers.near_due (near_due) at as_of, with the same per-dossier rows
-- and conditions as dossiers.sql: unit, procedure, field, received, due,
-- resolved (0: open). Most overdue (or soonest due) first.
SELECT dossier_id, code, unit, field, rcv_ms, due, resolved_ms
FROM (
    SELECT dossier_id,
           min(at_ms) AS first_ms,
           argMax(received_ms, (at_ms, toUInt8(state), version)) AS rcv_ms,
           argMax(due_ms, (at_ms, toUInt8(state), version)) AS due,
           minIf(at_ms, state = 'resolved') AS resolved_ms,
           minIf(at_ms, state IN ('resolved', 'returned', 'withdrawn')) AS closed_ms,
           toString(argMax(unit, (at_ms, toUInt8(state), version))) AS unit,
           argMax(procedure_code, (at_ms, toUInt8(state), version)) AS code
    FROM {{raw "dossier_events_raw"}}
    GROUP BY dossier_id
) ANY LEFT JOIN (
    SELECT code, toString(argMax(field, (at_ms, version))) AS field
    FROM {{raw "procedure_events_raw"}}
    GROUP BY code
) USING (code)
WHERE first_ms <= {{.AsOf}}
{{- if eq .State "late"}}
  AND ((resolved_ms >= {{.From}} AND resolved_ms <= {{.AsOf}} AND resolved_ms > due)
       OR (NOT (closed_ms > 0 AND closed_ms <= {{.AsOf}}) AND due < {{.AsOf}}))
ORDER BY due, dossier_id
{{- else}}
  AND NOT (closed_ms > 0 AND closed_ms <= {{.AsOf}}) AND due >= {{.AsOf}} AND due < {{.AsOf}} + {{.NearDue}}
ORDER BY due, dossier_id
{{- end}}
