-- HWID device registry (issue 14, item 1). Keep in step with
-- postgres/0014_user_devices.sql.

-- Device limit of a user and of a template: NULL is the global default
-- (subscription settings), 0 is unlimited.
ALTER TABLE users ADD COLUMN hwid_device_limit INTEGER;
ALTER TABLE user_templates ADD COLUMN hwid_device_limit INTEGER;

-- One row per (user, hwid) a subscription was fetched from. hwid '' is the
-- "unknown device": the fetches without x-hwid when they are allowed.
-- refused = 1: the device came past the limit and got the placeholder; it
-- is kept so the admin sees who was turned away (a few per user, oldest
-- dropped first) and is promoted when a slot frees up.
CREATE TABLE user_devices (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hwid           TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    os             TEXT NOT NULL DEFAULT '',
    os_version     TEXT NOT NULL DEFAULT '',
    model          TEXT NOT NULL DEFAULT '',
    user_agent     TEXT NOT NULL DEFAULT '',
    first_fetch_at INTEGER NOT NULL,
    last_fetch_at  INTEGER NOT NULL,
    fetch_count    INTEGER NOT NULL DEFAULT 0,
    refused        INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX user_devices_hwid ON user_devices (user_id, hwid);
CREATE INDEX user_devices_refused ON user_devices (user_id, refused, last_fetch_at);
