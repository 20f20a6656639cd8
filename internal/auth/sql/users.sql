-- Every account as of its newest version not beyond the horizon (? = the
-- newest version a clock within MaxClockSkew can have written).
SELECT username, argMax(display_name, version), argMax(role, version),
       argMax(password_hash, version), argMax(disabled, version), argMax(epoch, version), argMax(updated_by, version),
       argMax(updated_ms, version), max(version)
FROM {{sec "users"}}
WHERE version <= ?
GROUP BY username
ORDER BY username
