-- Drill-down of the dossier tiles (dossiers.sql) at as_of, per unit or per
-- procedure field ({{.By}}): the same definitions, the same per-dossier
-- rows, the point as_of only. The keys' numerators add up to the tile's.
SELECT tile, key, numerator, denominator, value
FROM (
    SELECT key,
           countIf(resolved_ms >= {{.From}} AND resolved_ms <= {{.AsOf}} AND resolved_ms <= due) AS on_time,
           countIf(resolved_ms >= {{.From}} AND resolved_ms <= {{.AsOf}}) AS resolved,
           countIf(rcv_ms >= {{.From}} AND NOT (withdrawn_ms > 0 AND withdrawn_ms <= {{.AsOf}}) AND settled_ms > 0 AND settled_ms <= {{.AsOf}}) AS settled,
           countIf(rcv_ms >= {{.From}} AND NOT (withdrawn_ms > 0 AND withdrawn_ms <= {{.AsOf}})) AS received,
           countIf((resolved_ms >= {{.From}} AND resolved_ms <= {{.AsOf}} AND resolved_ms > due)
                   OR (NOT (closed_ms > 0 AND closed_ms <= {{.AsOf}}) AND due < {{.AsOf}})) AS late,
           countIf((resolved_ms >= {{.From}} AND resolved_ms <= {{.AsOf}}) OR NOT (closed_ms > 0 AND closed_ms <= {{.AsOf}})) AS handled,
           countIf(NOT (closed_ms > 0 AND closed_ms <= {{.AsOf}}) AND due >= {{.AsOf}} AND due < {{.AsOf}} + {{.NearDue}}) AS near,
           countIf(NOT (closed_ms > 0 AND closed_ms <= {{.AsOf}})) AS open
    FROM (
        SELECT {{if eq .By "field"}}field{{else}}unit{{end}} AS key, first_ms, rcv_ms, due, resolved_ms, settled_ms, closed_ms, withdrawn_ms
        FROM (
            SELECT dossier_id,
                   min(at_ms) AS first_ms,
                   argMax(received_ms, (at_ms, toUInt8(state), version)) AS rcv_ms,
                   argMax(due_ms, (at_ms, toUInt8(state), version)) AS due,
                   minIf(at_ms, state = 'resolved') AS resolved_ms,
                   minIf(at_ms, state IN ('resolved', 'returned')) AS settled_ms,
                   minIf(at_ms, state IN ('resolved', 'returned', 'withdrawn')) AS closed_ms,
                   minIf(at_ms, state = 'withdrawn') AS withdrawn_ms,
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
    )
    GROUP BY key
)
ARRAY JOIN
    ['dossiers.on_time', 'dossiers.settled', 'dossiers.late', 'dossiers.near_due'] AS tile,
    [toFloat64(on_time), toFloat64(settled), toFloat64(late), toFloat64(near)] AS numerator,
    [toNullable(toFloat64(resolved)), toNullable(toFloat64(received)), toNullable(toFloat64(handled)), toNullable(toFloat64(open))] AS denominator,
    [if(resolved = 0, NULL, on_time / resolved * 100), if(received = 0, NULL, settled / received * 100),
     toNullable(toFloat64(late)), toNullable(toFloat64(near))] AS value
ORDER BY tile, key
