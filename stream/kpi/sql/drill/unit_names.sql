-- The registry's units as of as_of: id, name and kind, for the labels of
-- the drill-downs.
SELECT unit_id, argMax(name, (at_ms, version)) AS unit_name, toString(argMax(kind, (at_ms, version))) AS unit_kind
FROM {{raw "org_unit_events_raw"}}
WHERE at_ms <= {{.AsOf}}
GROUP BY unit_id
ORDER BY unit_id
