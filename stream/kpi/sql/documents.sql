-- Tile documents.signed: documents issued in the period (1 January to the
-- point) by the city People's Committee (units of kind "city" in the
-- registry as it stood at the point: its latest event by then, so a later
-- change of the registry leaves closed months as they were) with a digital
-- signature, of all it issued in the period (%; target 100). A document
-- counts once, as its newest version says.
SELECT 'documents.signed' AS tile, toInt64(p) AS point, toFloat64(signed_docs) AS numerator,
       toNullable(toFloat64(issued)) AS denominator, if(issued = 0, NULL, signed_docs / issued * 100) AS value,
       toNullable(100.) AS target
FROM (
    SELECT p, countIf(is_signed = 1) AS signed_docs, count() AS issued
    FROM (
        SELECT document_id, argMax(issued_ms, version) AS issued_at_ms, argMax(signed, version) AS is_signed,
               toString(argMax(unit, version)) AS issuer
        FROM {{raw "documents_raw"}}
        GROUP BY document_id
    )
    ARRAY JOIN {{.Points}} AS p
    WHERE issued_at_ms >= {{.From}} AND issued_at_ms <= p
      AND (p, issuer) IN (
          SELECT p, unit_id
          FROM (
              SELECT p, unit_id, argMax(kind, (at_ms, version)) AS last_kind
              FROM {{raw "org_unit_events_raw"}}
              ARRAY JOIN {{.Points}} AS p
              WHERE at_ms <= p
              GROUP BY p, unit_id
          )
          WHERE last_kind = 'city')
    GROUP BY p
)
ORDER BY point
