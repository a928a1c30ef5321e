-- Tombstones of deleted users for the in-memory user directory of each
-- panel replica (store/directory.go). Keep in step with
-- postgres/0006_user_directory.sql.
--
-- A replica's directory catches up by reading the users rows whose
-- revision is newer than the revision it last saw; a deleted user leaves no
-- row to read, so its deletion is recorded here, at the revision of the
-- transaction that deleted it. Every deletion runs in a transaction that
-- took a revision of its own (state.change), so that revision is above
-- every replica's watermark until it commits.
CREATE TABLE user_tombstones (
    user_id    INTEGER NOT NULL,
    revision   INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL -- Unix seconds, for pruning by age
) STRICT;
CREATE INDEX user_tombstones_revision ON user_tombstones (revision);

-- Every tombstone at or below this revision has been pruned: a directory
-- that last saw an older revision may have missed deletions and reloads.
CREATE TABLE user_tombstone_horizon (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO user_tombstone_horizon (id, revision) VALUES (1, 0);

CREATE TRIGGER users_tombstone AFTER DELETE ON users BEGIN
    INSERT INTO user_tombstones (user_id, revision, deleted_at)
        VALUES (old.id, (SELECT value FROM revision WHERE id = 1), unixepoch());
END;
