-- User templates, the webhook outbox and the record of sent reminders.
-- Keep in step with postgres/0004_extra.sql.

CREATE TABLE user_templates (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    data_limit      INTEGER NOT NULL DEFAULT 0,
    expire_duration INTEGER NOT NULL DEFAULT 0,
    username_prefix TEXT,
    username_suffix TEXT,
    inbounds        TEXT NOT NULL DEFAULT '{}'
) STRICT;

-- One row per (event, webhook address), written in the transaction of the
-- change that caused the event, so a crash between commit and delivery
-- loses nothing. next_attempt_at doubles as the claim lease: a dispatcher
-- that takes rows pushes it past the delivery timeout, so another replica
-- only sees them again if the first one died.
CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    address         TEXT NOT NULL,
    action          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    last_error      TEXT NOT NULL DEFAULT ''
) STRICT;
-- Only pending rows: the dispatcher's scan never reads delivered history.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (next_attempt_at, id)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_outbox_done ON webhook_outbox (created_at)
    WHERE delivered_at IS NOT NULL OR failed_at IS NOT NULL;

-- Reminders (reached_usage_percent, reached_days_left) already sent, one
-- per user and kind for the period named by period (the user's usage
-- reset time or expire), so each is sent once per period.
CREATE TABLE webhook_reminders (
    user_id INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    period  INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
) STRICT, WITHOUT ROWID;
