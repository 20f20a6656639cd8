-- One version of a kiosk token (PutKiosk); columns in the order of its Append.
INSERT INTO {{sec "kiosk_tokens"}} (id, name, secret_hash, scope, revoked, created_by, created_ms, expires_ms, updated_by, version)
