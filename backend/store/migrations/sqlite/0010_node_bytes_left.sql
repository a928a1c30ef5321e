-- The bytes_left each limited user's last upsert sent to the nodes. Keep in
-- step with postgres/0010_node_bytes_left.sql.
--
-- Why: bytes_left is counted from the revision that carried it. A replica
-- that rebuilt the desired state from the database used to recompute it
-- from the traffic counted so far, so one revision had as many state
-- hashes as there were reloads, and every node that checked its hash after
-- a panel restart was sent a snapshot. The change that carries a value now
-- stores it here (store.Tx.SetNodeBytesLeft), and the desired state is read
-- back from it.
--
-- Existing rows take today's value; nodes that hold an older one get one
-- snapshot after the upgrade, as before.
ALTER TABLE user_traffic ADD COLUMN node_bytes_left INTEGER;
UPDATE user_traffic SET node_bytes_left = MAX(data_limit - used_traffic, 0) WHERE data_limit > 0;
