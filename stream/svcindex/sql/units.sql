-- Service index: the units of the registry as they stood at the cut, the
-- active ones (the city, each department, ward and commune).
SELECT unit_id, name, kind
FROM (
    SELECT unit_id, argMax(name, k) AS name, toString(argMax(kind, k)) AS kind, toString(argMax(status, k)) AS status
    FROM (SELECT unit_id, name, kind, status, (at_ms, version) AS k
          FROM {{raw "org_unit_events_raw"}} WHERE at_ms <= {{.Cut}})
    GROUP BY unit_id
)
WHERE status = 'active'
ORDER BY unit_id
