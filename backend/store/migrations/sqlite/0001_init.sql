-- Outpost schema, SQLite. Append-only: never edit a released migration, add
-- the next numbered file instead. Keep it in step with postgres/0001_init.sql.
--
-- Times are INTEGER Unix seconds (UTC), NULL where the model has a nil
-- pointer. STRICT tables make SQLite reject a value of the wrong type instead
-- of storing it silently.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row: the revision of the newest change that affects nodes.
CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO revision (id, value) VALUES (1, 0);

-- Outbox of node-affecting changes.
CREATE TABLE changes (
    revision   INTEGER PRIMARY KEY,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: without it SQLite may hand out the id of the newest row
-- again after it is deleted; a user id is part of the user's Xray email and
-- must never name two users.
CREATE TABLE admins (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    username          TEXT NOT NULL UNIQUE,
    hashed_password   TEXT NOT NULL,
    is_sudo           INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    password_reset_at INTEGER,
    telegram_id       INTEGER,
    discord_webhook   TEXT,
    users_usage       INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE users (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    username                  TEXT NOT NULL,
    admin_id                  INTEGER REFERENCES admins (id) ON DELETE SET NULL,
    status                    TEXT NOT NULL,
    proxies                   TEXT NOT NULL,
    excluded_inbounds         TEXT NOT NULL,
    expire                    INTEGER NOT NULL DEFAULT 0,
    data_limit                INTEGER NOT NULL DEFAULT 0,
    data_limit_reset_strategy TEXT NOT NULL DEFAULT 'no_reset',
    used_traffic              INTEGER NOT NULL DEFAULT 0,
    lifetime_used_traffic     INTEGER NOT NULL DEFAULT 0,
    created_at                INTEGER NOT NULL,
    edit_at                   INTEGER,
    note                      TEXT NOT NULL DEFAULT '',
    sub_updated_at            INTEGER,
    sub_last_user_agent       TEXT NOT NULL DEFAULT '',
    sub_revoked_at            INTEGER,
    online_at                 INTEGER,
    on_hold_expire_duration   INTEGER NOT NULL DEFAULT 0,
    on_hold_timeout           INTEGER,
    auto_delete_in_days       INTEGER,
    next_plan                 TEXT,
    last_status_change        INTEGER,
    usage_reset_at            INTEGER,
    revision                  INTEGER NOT NULL DEFAULT 0,
    -- Only read by the partial index users_limit_reached.
    limit_reached             INTEGER GENERATED ALWAYS AS (data_limit > 0 AND used_traffic >= data_limit) VIRTUAL
) STRICT;

CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE INDEX users_status_expire ON users (status, expire);
-- No index contains used_traffic, lifetime_used_traffic or online_at, which
-- every usage batch rewrites for up to every user: each such index would
-- cost a delete and an insert per user per batch. This partial index holds
-- only the users at or over their limit; for everyone else an update just
-- evaluates its condition (see the PostgreSQL migration for the same idea).
CREATE INDEX users_limit_reached ON users (status) WHERE limit_reached;
CREATE INDEX users_expire ON users (expire);
CREATE INDEX users_created_at ON users (created_at);
CREATE INDEX users_admin_id ON users (admin_id);
CREATE INDEX users_revision ON users (revision);

CREATE TABLE nodes (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL UNIQUE,
    address           TEXT NOT NULL,
    port              INTEGER NOT NULL,
    api_port          INTEGER NOT NULL,
    usage_coefficient REAL NOT NULL DEFAULT 1,
    xray_version      TEXT NOT NULL DEFAULT '',
    agent_version     TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    message           TEXT NOT NULL DEFAULT '',
    last_seen         INTEGER,
    applied_revision  INTEGER NOT NULL DEFAULT 0,
    state_hash        TEXT NOT NULL DEFAULT '',
    usage_seq         INTEGER NOT NULL DEFAULT 0,
    session_fence     INTEGER NOT NULL DEFAULT 0,
    token_hash        TEXT UNIQUE,
    created_at        INTEGER NOT NULL
) STRICT;

-- Usage history outlives a deleted node (node_id is not a foreign key);
-- user_id is not one either, to spare a parent lookup per row of a usage
-- batch: DeleteUser deletes the user's rows itself.
CREATE TABLE node_usages (
    node_id  INTEGER NOT NULL,
    hour     INTEGER NOT NULL, -- Unix seconds at the start of the hour
    uplink   INTEGER NOT NULL DEFAULT 0,
    downlink INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, hour)
) STRICT, WITHOUT ROWID;
CREATE INDEX node_usages_hour ON node_usages (hour);

CREATE TABLE node_user_usages (
    user_id INTEGER NOT NULL,
    node_id INTEGER NOT NULL,
    hour    INTEGER NOT NULL,
    used    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, node_id, hour)
) STRICT, WITHOUT ROWID;
CREATE INDEX node_user_usages_hour ON node_user_usages (hour);

CREATE TABLE core_config (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    data     BLOB NOT NULL,
    revision INTEGER NOT NULL
) STRICT;
