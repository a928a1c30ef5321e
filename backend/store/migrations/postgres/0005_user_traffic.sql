-- Usage counters move out of users into a narrow table, and the hourly
-- per-user usage of each batch goes to a journal folded in later. Keep in
-- step with sqlite/0005_user_traffic.sql, which says why.

CREATE TABLE user_traffic (
    user_id               BIGINT PRIMARY KEY, -- users.id; rows follow users by trigger
    -- Copies of users.admin_id and users.data_limit, kept by the triggers
    -- below, so a batch finds each user's owner and limit in this row.
    admin_id              BIGINT,
    data_limit            BIGINT NOT NULL DEFAULT 0,
    used_traffic          BIGINT NOT NULL DEFAULT 0,
    lifetime_used_traffic BIGINT NOT NULL DEFAULT 0,
    online_at             BIGINT,
    -- Stored so the partial index below can name it instead of
    -- used_traffic: an update that leaves every indexed column (predicate
    -- included) unchanged is HOT, written in place without touching any
    -- index, with room kept by fillfactor 50. limit_reached changes only
    -- when a user crosses its limit.
    limit_reached         BOOLEAN GENERATED ALWAYS AS (data_limit > 0 AND used_traffic >= data_limit) STORED
) WITH (fillfactor = 50);

INSERT INTO user_traffic (user_id, admin_id, data_limit, used_traffic, lifetime_used_traffic, online_at)
    SELECT id, admin_id, data_limit, used_traffic, lifetime_used_traffic, online_at FROM users;

CREATE INDEX user_traffic_limit_reached ON user_traffic (user_id) WHERE limit_reached;
-- No index on online_at: every batch rewrites it, and an index would end
-- HOT updates. Online counts scan this narrow table instead.

DROP INDEX users_limit_reached;
ALTER TABLE users DROP COLUMN limit_reached;
ALTER TABLE users DROP COLUMN used_traffic;
ALTER TABLE users DROP COLUMN lifetime_used_traffic;
ALTER TABLE users DROP COLUMN online_at;

-- Inserts and deletes are statement triggers over transition tables, so an
-- import of 100k users costs one INSERT here, not 100k function calls.
CREATE FUNCTION user_traffic_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_traffic (user_id, admin_id, data_limit)
        SELECT id, admin_id, data_limit FROM inserted_users;
    RETURN NULL;
END $$;
CREATE TRIGGER users_traffic_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted_users FOR EACH STATEMENT EXECUTE FUNCTION user_traffic_insert();

CREATE FUNCTION user_traffic_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_traffic t USING deleted_users d WHERE t.user_id = d.id;
    RETURN NULL;
END $$;
CREATE TRIGGER users_traffic_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted_users FOR EACH STATEMENT EXECUTE FUNCTION user_traffic_delete();

-- PostgreSQL allows no transition tables with a column list, so this one
-- runs per row, and only for rows whose owner or limit changed.
CREATE FUNCTION user_traffic_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_traffic SET admin_id = NEW.admin_id, data_limit = NEW.data_limit WHERE user_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER users_traffic_update AFTER UPDATE OF admin_id, data_limit ON users
    FOR EACH ROW WHEN (OLD.admin_id IS DISTINCT FROM NEW.admin_id OR OLD.data_limit IS DISTINCT FROM NEW.data_limit)
    EXECUTE FUNCTION user_traffic_update();

-- One row per usage batch: the node, the hour it counts in and the users'
-- bytes (after the node's coefficient) as varint pairs, see
-- store/journal.go. FoldUsageJournal adds them to node_user_usages and
-- deletes them.
CREATE TABLE usage_journal (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id BIGINT NOT NULL,
    hour    BIGINT NOT NULL,
    users   INTEGER NOT NULL,
    data    BYTEA NOT NULL
);
