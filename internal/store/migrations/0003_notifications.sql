-- The notification outbox: every notification is stored here before it is
-- sent, and stays pending until it is sent or dead-lettered (failed).
CREATE TABLE notifications (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    receiver      TEXT    NOT NULL,
    group_key     TEXT    NOT NULL,
    status        TEXT    NOT NULL, -- pending, sent or failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    claim         INTEGER NOT NULL DEFAULT 0, -- bumped by every claim
    claimed_until INTEGER NOT NULL DEFAULT 0, -- unix milliseconds; the lease of the current claim
    next_attempt  INTEGER NOT NULL,           -- unix milliseconds
    since         INTEGER NOT NULL,           -- start of the current series of attempts
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    last_error    TEXT    NOT NULL DEFAULT '',
    body          BLOB    NOT NULL            -- the notification as JSON
);
CREATE INDEX notifications_pending ON notifications (receiver, next_attempt) WHERE status = 'pending';
CREATE INDEX notifications_group   ON notifications (group_key, receiver, status);
CREATE INDEX notifications_status  ON notifications (status, created_at);
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX notifications_updated ON notifications (updated_at) WHERE status <> 'pending';

-- What a receiver returned for a group's last delivered notification
-- (e.g. Slack's channel and message ts), passed to the next one.
CREATE TABLE notification_refs (
    group_key  TEXT    NOT NULL,
    receiver   TEXT    NOT NULL,
    ref        TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (group_key, receiver)
);
