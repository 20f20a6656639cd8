-- Every kiosk token as of its newest version not beyond the horizon (?).
SELECT id, argMax(name, version), argMax(secret_hash, version), argMax(scope, version),
       argMax(revoked, version), argMax(created_by, version), argMax(created_ms, version), argMax(expires_ms, version),
       argMax(updated_by, version), max(version)
FROM {{sec "kiosk_tokens"}}
WHERE version <= ?
GROUP BY id
ORDER BY min(created_ms)
