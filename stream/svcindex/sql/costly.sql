-- Service index: the dossiers (or feedback) of a unit that cost it points
-- in a period for one reason, newest first (docs/service-index.md,
-- "Drill-down"). The same per-dossier reading as dossiers.sql.
--   late             resolved after the due time, or open past it at the cut
--   not_digitised    received, not every component digitised
--   not_paid_online  received, with a fee, not paid online
--   not_synced       received, not synchronised to the national portal
--   no_e_result      resolved without an electronic result
--   dissatisfied     resolved and rated "dissatisfied" by the applicant
--   feedback_late    feedback answered late or open past its due time
--   disliked         feedback with a dislike
{{if eq .Reason "feedback_late" "disliked"}}
SELECT feedback_id AS id, unit, '' AS procedure_code, rcv, due
FROM (
    SELECT feedback_id, toString(argMax(unit, k)) AS unit,
           argMax(received_ms, k) AS rcv, argMax(due_ms, k) AS due,
           minIf(at_ms, state = 'answered') AS answered_ms,
           argMaxIf(dislikes, k, state = 'reacted') AS dislikes
    FROM (SELECT feedback_id, unit, state, at_ms, received_ms, due_ms, likes, dislikes, version,
                 (at_ms, toUInt8(state), version) AS k
          FROM {{raw "feedback_events_raw"}} WHERE at_ms <= {{.Cut}})
    GROUP BY feedback_id
)
WHERE rcv >= {{.Start}}{{if .Unit}} AND unit = {{quote .Unit}}{{end}}
  AND {{if eq .Reason "feedback_late"}}(answered_ms > due OR (answered_ms = 0 AND due < {{.Cut}})){{else}}dislikes > 0{{end}}
ORDER BY rcv DESC, id
LIMIT {{.Limit}}
{{else}}
SELECT dossier_id AS id, unit, procedure_code, rcv, due
FROM (
    {{- template "dossier_fold" .}}
)
WHERE 1{{if .Unit}} AND unit = {{quote .Unit}}{{end}}
{{- if eq .Reason "late"}}
  AND ((resolved_ms >= {{.Start}} AND resolved_ms > due) OR (closed_ms = 0 AND due < {{.Cut}}))
{{- else if eq .Reason "no_e_result" "dissatisfied"}}
  AND resolved_ms >= {{.Start}} AND {{if eq .Reason "no_e_result"}}d_e_result != 1{{else}}rating = 'dissatisfied'{{end}}
{{- else}}
  AND rcv >= {{.Start}} AND withdrawn_ms = 0 AND
  {{- if eq .Reason "not_digitised"}} NOT (d_inputs > 0 AND digitised >= d_inputs)
  {{- else if eq .Reason "not_paid_online"}} fee > 0 AND paid != 1
  {{- else}} synced != 1{{end}}
{{- end}}
ORDER BY rcv DESC, id
LIMIT {{.Limit}}
{{end}}
