-- Fleet alerts (issue 12, item 3): one row per condition the alert
-- evaluator is tracking, keyed by rule and subject ("node:12", "panel",
-- "inbound:vless-tls"). A row without fired_at is pending (the condition
-- holds but not yet for long enough); with it, the alert fired and its
-- resolution is still owed. Kept in the database so a new jobs leader
-- neither fires again what fired nor forgets how long a condition has held.
-- Keep in step with postgres/0016_alerts.sql.
CREATE TABLE alerts (
    rule      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    since     INTEGER NOT NULL,           -- when the condition began
    fired_at  INTEGER,                    -- NULL while pending
    value     REAL NOT NULL DEFAULT 0,    -- the measure when it fired
    threshold REAL NOT NULL DEFAULT 0,
    ref       INTEGER NOT NULL DEFAULT 0, -- rule's own memo (revision lag: the revision to reach)
    target    TEXT NOT NULL DEFAULT '',    -- what it is about, for people: "node de-1"
    message   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (rule, subject)
) STRICT;
