-- Every index key already ends in the rowid (seq), so naming seq again only
-- made the indexes larger. Retention walks events in seq order, which is
-- storage order, so stored_at needs no index of its own. Alerts get an
-- index for listing by principal.
DROP INDEX events_time;
DROP INDEX events_stored_at;
DROP INDEX events_principal;
DROP INDEX events_source_ip;
DROP INDEX events_action;
DROP INDEX events_function;
DROP INDEX events_account;
CREATE INDEX events_time      ON events (time);
CREATE INDEX events_principal ON events (principal, time);
CREATE INDEX events_source_ip ON events (source_ip, time);
CREATE INDEX events_action    ON events (action, time);
CREATE INDEX events_function  ON events (function, time);
CREATE INDEX events_account   ON events (account, time);
CREATE INDEX alerts_principal ON alerts (principal, last_seen);
