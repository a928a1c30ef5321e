-- The core configs saved through the API, newest last, for the dashboard's
-- history, diff and restore (store/config_history.go keeps the newest 50).
-- Keep in step with postgres/0009_core_config_history.sql.
CREATE TABLE core_config_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    admin      TEXT NOT NULL,  -- who saved it; '' for the config found before the first save
    created_at INTEGER NOT NULL, -- Unix seconds
    data       BLOB NOT NULL,
    sha256     TEXT NOT NULL
) STRICT;
