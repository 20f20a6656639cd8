-- Drill-down of documents.signed (documents.sql) at as_of, per issuing
-- unit (units of kind "city").
SELECT 'documents.signed' AS tile, issuer AS key, toFloat64(countIf(is_signed = 1)) AS numerator,
       toNullable(toFloat64(count())) AS denominator, if(count() = 0, NULL, countIf(is_signed = 1) / count() * 100) AS value
FROM (
    SELECT document_id, argMax(issued_ms, version) AS issued_at_ms, argMax(signed, version) AS is_signed,
           toString(argMax(unit, version)) AS issuer
    FROM {{raw "documents_raw"}}
    GROUP BY document_id
)
WHERE issued_at_ms >= {{.From}} AND issued_at_ms <= {{.AsOf}}
  AND issuer IN (SELECT unit_id FROM {{.DB}}.org_units WHERE kind = 'city')
GROUP BY key
ORDER BY key
