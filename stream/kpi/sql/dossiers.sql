-- Tiles dossiers.on_time, dossiers.settled, dossiers.late, dossiers.near_due.
-- One row per dossier and point from its events up to the point
-- (duplicates and replays change no min and no argMax; a correction wins by
-- its version). A dossier exists at a point once an event of it happened;
-- its due time at a point is that of its latest event at that point (a
-- request for additional documents sets a new one, from then on: a month
-- already closed keeps the due time it had). The period runs from 1
-- January to the point.
--   on_time   resolved in the period on or before the due time, of all
--             resolved in the period (%; target 100)
--   settled   received in the period and resolved or returned by the point,
--             of all received in the period except those withdrawn (%)
--   late      resolved in the period after the due time, plus open at the
--             point and past the due time (count; target 0; denominator:
--             resolved in the period or open)
--   near_due  open at the point and due within the next 24 hours (count;
--             denominator: open at the point)
SELECT tile, toInt64(p) AS point, numerator, denominator, value, target
FROM (
    SELECT p,
           countIf(resolved_ms >= {{.From}} AND resolved_ms <= p AND resolved_ms <= due) AS on_time,
           countIf(resolved_ms >= {{.From}} AND resolved_ms <= p) AS resolved,
           countIf(rcv_ms >= {{.From}} AND NOT (withdrawn_ms > 0 AND withdrawn_ms <= p) AND settled_ms > 0 AND settled_ms <= p) AS settled,
           countIf(rcv_ms >= {{.From}} AND NOT (withdrawn_ms > 0 AND withdrawn_ms <= p)) AS received,
           countIf((resolved_ms >= {{.From}} AND resolved_ms <= p AND resolved_ms > due)
                   OR (NOT (closed_ms > 0 AND closed_ms <= p) AND due < p)) AS late,
           countIf((resolved_ms >= {{.From}} AND resolved_ms <= p) OR NOT (closed_ms > 0 AND closed_ms <= p)) AS handled,
           countIf(NOT (closed_ms > 0 AND closed_ms <= p) AND due >= p AND due < p + {{.NearDue}}) AS near,
           countIf(NOT (closed_ms > 0 AND closed_ms <= p)) AS open
    FROM (
        SELECT p, dossier_id,
               argMax(received_ms, (at_ms, toUInt8(state), version)) AS rcv_ms,
               argMax(due_ms, (at_ms, toUInt8(state), version)) AS due,
               minIf(at_ms, state = 'resolved') AS resolved_ms,
               minIf(at_ms, state IN ('resolved', 'returned')) AS settled_ms,
               minIf(at_ms, state IN ('resolved', 'returned', 'withdrawn')) AS closed_ms,
               minIf(at_ms, state = 'withdrawn') AS withdrawn_ms
        FROM {{raw "dossier_events_raw"}}
        ARRAY JOIN {{.Points}} AS p
        WHERE at_ms <= p
        GROUP BY p, dossier_id
    )
    GROUP BY p
)
ARRAY JOIN
    ['dossiers.on_time', 'dossiers.settled', 'dossiers.late', 'dossiers.near_due'] AS tile,
    [toFloat64(on_time), toFloat64(settled), toFloat64(late), toFloat64(near)] AS numerator,
    [toNullable(toFloat64(resolved)), toNullable(toFloat64(received)), toNullable(toFloat64(handled)), toNullable(toFloat64(open))] AS denominator,
    [if(resolved = 0, NULL, on_time / resolved * 100), if(received = 0, NULL, settled / received * 100),
     toNullable(toFloat64(late)), toNullable(toFloat64(near))] AS value,
    [toNullable(100.), CAST(NULL AS Nullable(Float64)), toNullable(0.), CAST(NULL AS Nullable(Float64))] AS target
ORDER BY tile, point
