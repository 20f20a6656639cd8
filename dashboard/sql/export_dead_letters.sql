-- Dead letters for an export (GET /api/export/dead-letters): received
-- between the bounds, filtered on reason and source; one row per dead
-- letter however often it was written. Newest first; streamed.
SELECT dl_id, received_ms, toString(source) AS src, source_topic, toString(reason) AS why, any(detail) AS detail, any(raw) AS raw
FROM {{raw "dead_letters_raw"}}
WHERE received_ms >= ? AND received_ms <= ? AND (? = '' OR toString(reason) = ?) AND (? = '' OR toString(source) = ?)
GROUP BY dl_id, received_ms, src, source_topic, why
ORDER BY received_ms DESC, dl_id
