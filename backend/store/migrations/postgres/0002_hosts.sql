-- Hosts (per inbound tag, ordered lists; each host becomes one link) and
-- the version counters subscription servers cache by. Keep it in step with
-- sqlite/0002_hosts.sql.

-- A tag with a row here has an explicit host list, possibly empty (no
-- links). A tag without one gets the default host.
CREATE TABLE host_lists (
    inbound_tag TEXT PRIMARY KEY
);

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
    allowinsecure           BOOLEAN NOT NULL DEFAULT FALSE,
    is_disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    mux_enable              BOOLEAN NOT NULL DEFAULT FALSE,
    fragment_setting        TEXT NOT NULL DEFAULT '',
    noise_setting           TEXT NOT NULL DEFAULT '',
    random_user_agent       BOOLEAN NOT NULL DEFAULT FALSE,
    use_sni_as_host         BOOLEAN NOT NULL DEFAULT FALSE,
    pinned_peer_cert_sha256 TEXT NOT NULL DEFAULT '',
    verify_peer_cert_by_name TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (inbound_tag, position)
);

-- One row of counters, bumped in the transaction that changes what they
-- version, so a subscription server can keep parsed hosts and compiled
-- settings in memory and learn of a change (from any replica) in the same
-- query that loads the user.
CREATE TABLE sub_versions (
    id       SMALLINT PRIMARY KEY CHECK (id = 1),
    hosts    BIGINT NOT NULL,
    settings BIGINT NOT NULL
);
INSERT INTO sub_versions (id, hosts, settings) VALUES (1, 0, 0);
