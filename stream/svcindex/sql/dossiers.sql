-- Service index: the dossier counts of one period per unit and procedure
-- (docs/service-index.md). One row per dossier from its events up to the
-- cut (the end of the period, or as_of while the period runs): duplicates
-- and replays change no min and no argMax, a correction wins by its
-- version, and an index field counts as its newest reported value (-1 is
-- "not reported"). The engine adds the rows up per unit and for the city
-- and applies the procedure flags and the settings.
--   resolved          resolved in the period
--   resolved_on_time  of those, on or before the due time
--   open              not resolved, returned or withdrawn at the cut
--   open_in_time      of those, due at or after the cut
--   received          received in the period and not withdrawn (the base
--                     of the rates of the received dossiers below)
--   late_or_dissatisfied  resolved in the period late, or rated
--                     "dissatisfied" (satisfaction.dossiers, the portal's
--                     "late or with a complaint or dislike")
SELECT unit, procedure_code,
       countIf(resolved_ms >= {{.Start}}) AS resolved,
       countIf(resolved_ms >= {{.Start}} AND resolved_ms <= due) AS resolved_on_time,
       countIf(closed_ms = 0) AS open,
       countIf(closed_ms = 0 AND due >= {{.Cut}}) AS open_in_time,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0) AS received,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND synced = 1) AS n_synced,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND d_full_online = 1) AS full_online_n,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND fee > 0) AS with_fee,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND paid = 1) AS paid_online,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND d_inputs > 0 AND digitised >= d_inputs) AS digitised_all,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND digitised > 0) AS digitised_any,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND reused > 0) AS n_reused,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND verified > 0) AS n_verified,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND cert_known) AS cert_reported,
       countIf(rcv >= {{.Start}} AND withdrawn_ms = 0 AND cert_known AND cert = 1) AS cert_electronic,
       countIf(resolved_ms >= {{.Start}} AND d_e_result = 1) AS e_result_n,
       countIf(resolved_ms >= {{.Start}} AND d_e_result = 1 AND to_store = 1) AS n_to_store,
       countIf(resolved_ms >= {{.Start}} AND rating != '') AS rated,
       countIf(resolved_ms >= {{.Start}} AND rating = 'dissatisfied') AS dissatisfied,
       countIf(resolved_ms >= {{.Start}} AND (resolved_ms > due OR rating = 'dissatisfied')) AS late_or_dissatisfied,
       countIf(resolved_ms >= {{.Start}} AND rating != '' AND (resolved_ms > due OR rating = 'dissatisfied')) AS rated_late_or_dissatisfied,
       toInt64(max(newest)) AS newest_ms
FROM (
    {{- template "dossier_fold" .}}
)
WHERE resolved_ms >= {{.Start}} OR closed_ms = 0 OR rcv >= {{.Start}}
GROUP BY unit, procedure_code
ORDER BY unit, procedure_code

{{/* One row per dossier as of .Cut: its latest unit, procedure and times,
     when it was resolved, closed or withdrawn, and the last reported value
     of each optional field. dossiers.sql scores it; costly.sql lists the
     dossiers that cost points from the same rows. */}}
{{define "dossier_fold"}}
    SELECT dossier_id,
           toString(argMax(unit, k)) AS unit, argMax(procedure_code, k) AS procedure_code,
           argMax(received_ms, k) AS rcv, argMax(due_ms, k) AS due,
           minIf(at_ms, state = 'resolved') AS resolved_ms,
           minIf(at_ms, state IN ('resolved', 'returned', 'withdrawn')) AS closed_ms,
           minIf(at_ms, state = 'withdrawn') AS withdrawn_ms,
           argMaxIf(synced_national, k, synced_national >= 0) AS synced,
           argMaxIf(full_online, k, full_online >= 0) AS d_full_online,
           argMaxIf(fee_vnd, k, fee_vnd >= 0) AS fee,
           argMaxIf(paid_online, k, paid_online >= 0) AS paid,
           argMaxIf(inputs, k, inputs >= 0) AS d_inputs,
           argMaxIf(inputs_digitised, k, inputs_digitised >= 0) AS digitised,
           argMaxIf(inputs_reused, k, inputs_reused >= 0) AS reused,
           argMaxIf(inputs_verified, k, inputs_verified >= 0) AS verified,
           countIf(e_certified_copy >= 0) > 0 AS cert_known,
           argMaxIf(e_certified_copy, k, e_certified_copy >= 0) AS cert,
           argMaxIf(e_result, k, e_result >= 0) AS d_e_result,
           argMaxIf(result_to_store, k, result_to_store >= 0) AS to_store,
           argMaxIf(applicant_rating, k, applicant_rating != '') AS rating,
           max(at_ms) AS newest
    FROM (SELECT dossier_id, unit, procedure_code, state, at_ms, received_ms, due_ms, version, synced_national, full_online, fee_vnd, paid_online, inputs, inputs_digitised, inputs_reused, inputs_verified, e_certified_copy, e_result, result_to_store, applicant_rating,
                 (at_ms, toUInt8(state), version) AS k
          FROM {{raw "dossier_events_raw"}}
          WHERE at_ms <= {{.Cut}})
    GROUP BY dossier_id
{{end}}
