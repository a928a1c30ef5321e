-- Hosts (per inbound tag, ordered lists; each host becomes one link) and
-- the version counters subscription servers cache by.

-- A tag with a row here has an explicit host list, possibly empty (no
-- links). A tag without one gets the default host.
CREATE TABLE host_lists (
    inbound_tag TEXT PRIMARY KEY
) STRICT;

CREATE TABLE hosts (
    inbound_tag             TEXT NOT NULL REFERENCES host_lists (inbound_tag) ON DELETE CASCADE,
    position                INTEGER NOT NULL,
    remark                  TEXT NOT NULL,
    address                 TEXT NOT NULL,
    port                    INTEGER, -- NULL: the inbound's port
    sni                     TEXT NOT NULL DEFAULT '',
    host                    TEXT NOT NULL DEFAULT '',
    path                    TEXT NOT NULL DEFAULT '',
    security                TEXT NOT NULL DEFAULT 'inbound_default',
    alpn                    TEXT NOT NULL DEFAULT '',
    fingerprint             TEXT NOT NULL DEFAULT '',
    allowinsecure           INTEGER NOT NULL DEFAULT 0,
    is_disabled             INTEGER NOT NULL DEFAULT 0,
    mux_enable              INTEGER NOT NULL DEFAULT 0,
    fragment_setting        TEXT NOT NULL DEFAULT '',
    noise_setting           TEXT NOT NULL DEFAULT '',
    random_user_agent       INTEGER NOT NULL DEFAULT 0,
    use_sni_as_host         INTEGER NOT NULL DEFAULT 0,
    pinned_peer_cert_sha256 TEXT NOT NULL DEFAULT '',
    verify_peer_cert_by_name TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (inbound_tag, position)
) STRICT, WITHOUT ROWID;

-- One row of counters, bumped in the transaction that changes what they
-- version, so a subscription server can keep parsed hosts and compiled
-- settings in memory and learn of a change (from any replica) in the same
-- query that loads the user.
CREATE TABLE sub_versions (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    hosts    INTEGER NOT NULL,
    settings INTEGER NOT NULL
) STRICT;
INSERT INTO sub_versions (id, hosts, settings) VALUES (1, 0, 0);
