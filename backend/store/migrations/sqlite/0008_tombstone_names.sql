-- Tombstones remember whom they were: the dashboard's events socket tells
-- each admin which of its users changed, by username, and a deleted user
-- leaves no row to read the name or the owner from. Keep in step with
-- postgres/0008_tombstone_names.sql. Tombstones written before this
-- migration keep an empty username and no owner.
ALTER TABLE user_tombstones ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE user_tombstones ADD COLUMN admin_id INTEGER;

DROP TRIGGER users_tombstone;
CREATE TRIGGER users_tombstone AFTER DELETE ON users BEGIN
    INSERT INTO user_tombstones (user_id, revision, deleted_at, username, admin_id)
        VALUES (old.id, (SELECT value FROM revision WHERE id = 1), unixepoch(), old.username, old.admin_id);
END;
