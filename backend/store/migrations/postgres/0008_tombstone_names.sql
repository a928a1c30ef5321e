-- Tombstones remember whom they were; see sqlite/0008_tombstone_names.sql.
ALTER TABLE user_tombstones ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE user_tombstones ADD COLUMN admin_id BIGINT;

CREATE OR REPLACE FUNCTION user_tombstones_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_tombstones (user_id, revision, deleted_at, username, admin_id)
        SELECT g.id, r.value, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT), g.username, g.admin_id
        FROM gone_users g CROSS JOIN revision r WHERE r.id = 1;
    RETURN NULL;
END $$;
