-- as_of: the newest event time of the administrative feeds, ignoring any
-- time past the wall clock. Tiles are valid "as of" this time, so the same
-- events always give the same tiles, whenever they are computed.
SELECT toInt64(max(t)) AS as_of_ms
FROM (
    SELECT max(at_ms) AS t FROM {{raw "dossier_events_raw"}} WHERE at_ms <= {{.Now}}
    UNION ALL SELECT max(issued_ms) AS t FROM {{raw "documents_raw"}} WHERE issued_ms <= {{.Now}}
    UNION ALL SELECT max(at_ms) AS t FROM {{raw "task_events_raw"}} WHERE at_ms <= {{.Now}}
    UNION ALL SELECT max(at_ms) AS t FROM {{raw "budget_entries_raw"}} WHERE at_ms <= {{.Now}}
    UNION ALL SELECT max(day_ms) AS t FROM {{raw "portal_traffic_raw"}} WHERE day_ms <= {{.Now}}
    UNION ALL SELECT max(rated_ms) AS t FROM {{raw "shop_ratings_raw"}} WHERE rated_ms <= {{.Now}}
    UNION ALL SELECT max(at_ms) AS t FROM {{raw "procedure_events_raw"}} WHERE at_ms <= {{.Now}}
    UNION ALL SELECT max(at_ms) AS t FROM {{raw "org_unit_events_raw"}} WHERE at_ms <= {{.Now}}
)
