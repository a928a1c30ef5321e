-- Who is online from where, and an IP limit per user (issue 14, item 3).
-- Keep in step with postgres/0015_user_ips.sql.

-- The distinct source addresses each user was seen from in the last 24 h
-- (pruned by a job), at most 64 per user, with the node that saw the
-- address last. Written from the nodes' usage batches.
CREATE TABLE user_ips (
    user_id    INTEGER NOT NULL,        -- no foreign key: a batch never fails on a user deleted meanwhile
    ip         TEXT NOT NULL,
    node_id    INTEGER NOT NULL,   -- no foreign key: the row outlives a deleted node
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (user_id, ip)
) STRICT;
-- The limit job and the pruning read recent or old rows by time.
CREATE INDEX user_ips_last_seen ON user_ips (last_seen);

-- NULL follows the global default (settings key ip_limit), 0 is unlimited.
ALTER TABLE users ADD COLUMN ip_limit INTEGER;
-- Set while the user is disabled by the IP limit: when it is re-enabled.
ALTER TABLE users ADD COLUMN ip_limit_until INTEGER;
CREATE INDEX users_ip_limit_until ON users (ip_limit_until) WHERE ip_limit_until IS NOT NULL;
ALTER TABLE user_templates ADD COLUMN ip_limit INTEGER;
