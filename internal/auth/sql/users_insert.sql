-- One version of an account (PutUser); columns in the order of its Append.
INSERT INTO {{sec "users"}} (username, display_name, role, password_hash, disabled, epoch, updated_by, updated_ms, version)
