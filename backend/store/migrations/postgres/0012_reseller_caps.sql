-- Reseller caps (issue 13, item 4): per admin, set by a sudo admin; NULL is
-- no cap. Keep in step with sqlite/0012_reseller_caps.sql.
ALTER TABLE admins ADD COLUMN max_users BIGINT;        -- most users it owns
ALTER TABLE admins ADD COLUMN max_data_limit BIGINT;   -- most SUM(users.data_limit) of its users, bytes
ALTER TABLE admins ADD COLUMN max_used_traffic BIGINT; -- most users_usage (its users' traffic since its last usage reset), bytes
ALTER TABLE admins ADD COLUMN allow_unlimited BOOLEAN; -- FALSE: no user of its may be unlimited (NULL or TRUE: may)

-- The caps' aggregates (COUNT, SUM(data_limit), unlimited users) per admin
-- are read from this index alone, inside the write that could pass them.
CREATE INDEX users_admin_caps ON users (admin_id, data_limit, expire, on_hold_expire_duration);
