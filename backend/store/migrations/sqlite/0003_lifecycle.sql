-- User lifecycle: usage reset history and the indexes the lifecycle jobs
-- read, so each job step is an index range scan over its candidates only.

-- One row per reset of a user's used_traffic (periodic strategy, admin
-- reset, next plan): the bytes the user had used at that moment. Lifetime
-- usage is users.lifetime_used_traffic, which no reset touches; this is its
-- history. user_id is not a foreign key: deletes remove the rows themselves.
CREATE TABLE user_usage_logs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id               INTEGER NOT NULL,
    used_traffic_at_reset INTEGER NOT NULL,
    reset_at              INTEGER NOT NULL
) STRICT;
CREATE INDEX user_usage_logs_user ON user_usage_logs (user_id, reset_at);

-- Users with a periodic reset, by strategy, status and the start of their current
-- period: one range scan per strategy and status finds those due. The job's query
-- repeats the WHERE term literally, which SQLite needs to use the index.
CREATE INDEX users_reset_due ON users (data_limit_reset_strategy, status, COALESCE(usage_reset_at, created_at))
    WHERE data_limit_reset_strategy <> 'no_reset';

-- Limited or expired users holding a next plan (few: a plan is cleared when
-- it fires), for plans whose second condition is met later.
CREATE INDEX users_next_plan ON users (status) WHERE next_plan IS NOT NULL;

-- Users that auto-delete, by status and when they reached it.
CREATE INDEX users_auto_delete ON users (status, last_status_change) WHERE auto_delete_in_days IS NOT NULL;
