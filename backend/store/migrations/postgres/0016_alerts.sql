-- See sqlite/0016_alerts.sql.
CREATE TABLE alerts (
    rule      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    since     BIGINT NOT NULL,
    fired_at  BIGINT,
    value     DOUBLE PRECISION NOT NULL DEFAULT 0,
    threshold DOUBLE PRECISION NOT NULL DEFAULT 0,
    ref       BIGINT NOT NULL DEFAULT 0,
    target    TEXT NOT NULL DEFAULT '',
    message   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (rule, subject)
);
