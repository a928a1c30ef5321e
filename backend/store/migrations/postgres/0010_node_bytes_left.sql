-- The bytes_left each limited user's last upsert sent to the nodes. Keep in
-- step with sqlite/0010_node_bytes_left.sql, which says why. Not indexed,
-- so usage batches' updates of user_traffic stay HOT.
ALTER TABLE user_traffic ADD COLUMN node_bytes_left BIGINT;
UPDATE user_traffic SET node_bytes_left = GREATEST(data_limit - used_traffic, 0) WHERE data_limit > 0;
