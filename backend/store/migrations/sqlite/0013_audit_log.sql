-- The audit log (issue 13): one row per change made through the API, the
-- CLI or a job, written in the change's own transaction. No foreign keys:
-- an entry outlives the admin, key or user it names. Keep in step with
-- postgres/0013_audit_log.sql.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,           -- admin, api_key, cli, job
    admin_id   INTEGER,                 -- acting admin or the key's owner
    actor_name TEXT NOT NULL,
    key_id     INTEGER,
    key_name   TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    owner_id   INTEGER,                 -- the reseller the entry is about (its view)
    before     TEXT,                    -- masked JSON of the changed fields
    after      TEXT
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_admin ON audit_log (admin_id, id);
CREATE INDEX audit_log_owner ON audit_log (owner_id, id);
CREATE INDEX audit_log_target ON audit_log (target, id);
