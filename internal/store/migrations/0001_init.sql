-- Events, kept for search; the body is the JSON envelope with the native record.
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    id        TEXT    NOT NULL UNIQUE,
    time      INTEGER NOT NULL, -- the event's time, unix milliseconds
    stored_at INTEGER NOT NULL, -- when Vigil stored it; retention applies to this
    cloud     TEXT    NOT NULL,
    source    TEXT    NOT NULL,
    account   TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    principal TEXT    NOT NULL,
    source_ip TEXT    NOT NULL,
    function  TEXT    NOT NULL,
    body      BLOB    NOT NULL
);
CREATE INDEX events_time      ON events (time, seq);
CREATE INDEX events_stored_at ON events (stored_at);
CREATE INDEX events_principal ON events (principal, time, seq);
CREATE INDEX events_source_ip ON events (source_ip, time, seq);
CREATE INDEX events_action    ON events (action, time, seq);
CREATE INDEX events_function  ON events (function, time, seq);
CREATE INDEX events_account   ON events (account, time, seq);

CREATE TABLE alerts (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    fingerprint TEXT    NOT NULL,
    rule_id     TEXT    NOT NULL,
    rule_title  TEXT    NOT NULL,
    rule_level  TEXT    NOT NULL,
    rule_tags   TEXT    NOT NULL, -- JSON array
    severity    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL, -- unix milliseconds
    last_seen   INTEGER NOT NULL,
    cloud       TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    account     TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    principal   TEXT    NOT NULL,
    source_ip   TEXT    NOT NULL,
    function    TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    event_ids   TEXT    NOT NULL, -- JSON array, at most alert.MaxEventRefs
    silenced    INTEGER NOT NULL,
    silence_id  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL
);
CREATE INDEX alerts_fingerprint ON alerts (fingerprint, last_seen);
CREATE INDEX alerts_last_seen   ON alerts (last_seen, seq);
CREATE INDEX alerts_status      ON alerts (status, last_seen, seq);

CREATE TABLE silences (
    id         TEXT    PRIMARY KEY,
    matchers   TEXT    NOT NULL, -- JSON array of {name, op, value}
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the token
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    last_used  INTEGER,
    expires_at INTEGER,
    revoked    INTEGER NOT NULL DEFAULT 0
);
