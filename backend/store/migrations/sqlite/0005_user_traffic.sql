-- Usage counters move out of users into a narrow table, and the hourly
-- per-user usage of each batch goes to a journal folded in later. Keep in
-- step with postgres/0005_user_traffic.sql.
--
-- Why: a usage batch from a node rewrites the counters of up to every user
-- every few seconds. In users, each of those rewrites dirtied a page of
-- wide rows (proxies, notes, timestamps); here a page holds a hundred
-- users' counters, so a 100k-user batch writes a few megabytes instead of
-- tens. users stays the source of truth for everything else.

CREATE TABLE user_traffic (
    user_id               INTEGER PRIMARY KEY, -- users.id; rows follow users by trigger
    -- Copies of users.admin_id and users.data_limit, kept by the triggers
    -- below, so a batch finds each user's owner and limit in this row.
    admin_id              INTEGER,
    data_limit            INTEGER NOT NULL DEFAULT 0,
    used_traffic          INTEGER NOT NULL DEFAULT 0,
    lifetime_used_traffic INTEGER NOT NULL DEFAULT 0,
    online_at             INTEGER,
    -- Only read by the partial index user_traffic_limit_reached: a batch
    -- evaluates it per row and writes the index only when a user crosses
    -- its limit, so the review finds those users without a scan.
    limit_reached         INTEGER GENERATED ALWAYS AS (data_limit > 0 AND used_traffic >= data_limit) VIRTUAL
) STRICT;

INSERT INTO user_traffic (user_id, admin_id, data_limit, used_traffic, lifetime_used_traffic, online_at)
    SELECT id, admin_id, data_limit, used_traffic, lifetime_used_traffic, online_at FROM users;

CREATE INDEX user_traffic_limit_reached ON user_traffic (user_id) WHERE limit_reached;
-- No index on online_at: every batch rewrites it for every user in it.
-- Online counts scan this narrow table instead.

DROP INDEX users_limit_reached;
ALTER TABLE users DROP COLUMN limit_reached;
ALTER TABLE users DROP COLUMN used_traffic;
ALTER TABLE users DROP COLUMN lifetime_used_traffic;
ALTER TABLE users DROP COLUMN online_at;

CREATE TRIGGER users_traffic_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_traffic (user_id, admin_id, data_limit) VALUES (new.id, new.admin_id, new.data_limit);
END;
CREATE TRIGGER users_traffic_update AFTER UPDATE OF admin_id, data_limit ON users
    WHEN old.admin_id IS NOT new.admin_id OR old.data_limit IS NOT new.data_limit BEGIN
    UPDATE user_traffic SET admin_id = new.admin_id, data_limit = new.data_limit WHERE user_id = new.id;
END;
CREATE TRIGGER users_traffic_delete AFTER DELETE ON users BEGIN
    DELETE FROM user_traffic WHERE user_id = old.id;
END;

-- One row per usage batch: the node, the hour it counts in and the users'
-- bytes (after the node's coefficient) as varint pairs, see
-- store/journal.go. FoldUsageJournal adds them to node_user_usages and
-- deletes them; until then the hourly report lags by at most a fold.
CREATE TABLE usage_journal (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id INTEGER NOT NULL,
    hour    INTEGER NOT NULL,
    users   INTEGER NOT NULL,
    data    BLOB NOT NULL
) STRICT;
