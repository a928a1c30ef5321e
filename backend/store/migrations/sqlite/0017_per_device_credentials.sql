-- Credentials per device (issue 14, item 2). Keep in step with
-- postgres/0017_per_device_credentials.sql.

-- The mode a user and a template ask for: NULL follows the global default
-- (subscription settings' per_device_credentials), 0 off, 1 on.
ALTER TABLE users ADD COLUMN per_device_credentials INTEGER;
ALTER TABLE user_templates ADD COLUMN per_device_credentials INTEGER;

-- per_device is the effective mode (the user's own value, else the global
-- default), kept in the transaction that changes either, so the user as
-- nodes see it (state.NodeUser) is a function of the users row alone.
ALTER TABLE users ADD COLUMN per_device INTEGER NOT NULL DEFAULT 0;

-- device_ids are the ids of the user's admitted (not refused) devices,
-- ascending, comma-separated: the identities nodes run in the mode. The
-- store rewrites it in every transaction that changes the set, so loading
-- users for nodes (a delta or the 100,000-user snapshot) needs no second
-- query.
ALTER TABLE users ADD COLUMN device_ids TEXT NOT NULL DEFAULT '';
UPDATE users SET device_ids = COALESCE((SELECT group_concat(id, ',') FROM
    (SELECT id FROM user_devices d WHERE d.user_id = users.id AND d.refused = 0 ORDER BY id)), '');

-- Bytes moved by the device's identity (counted in the mode only), reset
-- with the user's usage.
ALTER TABLE user_devices ADD COLUMN used_traffic INTEGER NOT NULL DEFAULT 0;
