-- Service index: the citizens' feedback (PAKN) of one period per unit. One
-- row per feedback from its events up to the cut; likes and dislikes are
-- those of its newest reacted event.
--   received          received in the period
--   on_time           of those, answered on or before the due time, or
--                     still open and not yet due at the cut
--   bad_any           of those, answered late, open past the due time, or
--                     with at least one dislike
--   bad_majority      the same with more dislikes than likes
SELECT unit,
       countIf(rcv >= {{.Start}}) AS received,
       countIf(rcv >= {{.Start}} AND ((answered_ms > 0 AND answered_ms <= due) OR (answered_ms = 0 AND due >= {{.Cut}}))) AS on_time,
       countIf(rcv >= {{.Start}} AND (answered_ms > due OR (answered_ms = 0 AND due < {{.Cut}}) OR n_dislikes > 0)) AS bad_any,
       countIf(rcv >= {{.Start}} AND (answered_ms > due OR (answered_ms = 0 AND due < {{.Cut}}) OR n_dislikes > n_likes)) AS bad_majority,
       toInt64(max(newest)) AS newest
FROM (
    SELECT feedback_id,
           toString(argMax(unit, k)) AS unit,
           argMax(received_ms, k) AS rcv, argMax(due_ms, k) AS due,
           minIf(at_ms, state = 'answered') AS answered_ms,
           argMaxIf(likes, k, state = 'reacted') AS n_likes,
           argMaxIf(dislikes, k, state = 'reacted') AS n_dislikes,
           max(at_ms) AS newest
    FROM (SELECT feedback_id, unit, state, at_ms, received_ms, due_ms, likes, dislikes, version,
                 (at_ms, toUInt8(state), version) AS k
          FROM {{raw "feedback_events_raw"}} WHERE at_ms <= {{.Cut}})
    GROUP BY feedback_id
)
WHERE rcv >= {{.Start}}
GROUP BY unit
ORDER BY unit
