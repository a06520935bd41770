-- Alerts (SQLite dialect): what `dataflow alerts evaluate` (the monitoring DAG's
-- generate_alerts task) found, one row per alert and label set. `fingerprint` is the alert
-- name and its sorted labels; a firing alert that is no longer found is resolved, and its
-- resolve notification is sent once. Times are microseconds since the Unix epoch, UTC.
CREATE TABLE alerts (
    fingerprint      TEXT PRIMARY KEY,
    alertname        TEXT NOT NULL,
    severity         TEXT NOT NULL,
    labels           TEXT NOT NULL,
    annotations      TEXT NOT NULL,
    value            DOUBLE PRECISION,
    status           TEXT NOT NULL,
    starts_at        BIGINT NOT NULL,
    ends_at          BIGINT,
    last_seen_at     BIGINT NOT NULL,
    last_notified_at BIGINT
);
CREATE INDEX alerts_by_status ON alerts (status, alertname);
