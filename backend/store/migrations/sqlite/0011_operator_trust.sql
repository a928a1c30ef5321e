-- Operators' trust (issue 13): TOTP second factor, recovery codes, API keys
-- and sign-in sessions. Keep in step with postgres/0010_operator_trust.sql.

-- One row per admin that started enrolling; confirmed once a code matched.
CREATE TABLE admin_totp (
    admin_id   INTEGER PRIMARY KEY REFERENCES admins (id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,              -- sealed with a key derived from jwt_secret (api/totp.go)
    confirmed  INTEGER NOT NULL DEFAULT 0,
    last_step  INTEGER NOT NULL DEFAULT 0, -- newest 30 s step accepted: a code is good once
    created_at INTEGER NOT NULL
) STRICT;

-- Single-use recovery codes: SHA-256 of the code, deleted when used.
CREATE TABLE admin_recovery_codes (
    admin_id  INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (admin_id, code_hash)
) STRICT;

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id     INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,            -- the first characters, to recognise a key in lists
    key_hash     TEXT NOT NULL UNIQUE,     -- SHA-256 of the whole key, hex
    scopes       TEXT NOT NULL,            -- comma-separated
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    last_used_ip TEXT
) STRICT;
CREATE INDEX api_keys_admin ON api_keys (admin_id);

-- One row per sign-in; the token carries its id (sid). admin_id 0 is the
-- env sudo, which has no admins row, hence no foreign key.
CREATE TABLE admin_sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id   INTEGER NOT NULL,
    username   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    address    TEXT NOT NULL,
    user_agent TEXT NOT NULL
) STRICT;
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id, username);
