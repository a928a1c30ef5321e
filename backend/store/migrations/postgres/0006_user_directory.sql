-- Tombstones of deleted users for the in-memory user directory of each
-- panel replica (store/directory.go). Keep in step with
-- sqlite/0006_user_directory.sql, which says why.
--
-- Not named deleted_users: 0005's delete trigger names its transition
-- table so, and one name for two relations would mislead a reader.
CREATE TABLE user_tombstones (
    user_id    BIGINT NOT NULL,
    revision   BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL -- Unix seconds, for pruning by age
);
CREATE INDEX user_tombstones_revision ON user_tombstones (revision);

CREATE TABLE user_tombstone_horizon (
    id       SMALLINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO user_tombstone_horizon (id, revision) VALUES (1, 0);

-- A statement trigger over a transition table, like 0005's: deleting 10k
-- users at once costs one INSERT here. The deleting transaction has bumped
-- the revision row, so it reads its own revision.
CREATE FUNCTION user_tombstones_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_tombstones (user_id, revision, deleted_at)
        SELECT g.id, r.value, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)
        FROM gone_users g CROSS JOIN revision r WHERE r.id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER users_tombstone AFTER DELETE ON users
    REFERENCING OLD TABLE AS gone_users FOR EACH STATEMENT EXECUTE FUNCTION user_tombstones_insert();
