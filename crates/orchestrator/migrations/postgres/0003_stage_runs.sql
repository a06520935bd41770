-- Stage runs (PostgreSQL dialect): one row per source ingested, model or seed built, test run
-- and checkpoint suite validated, by any command (with or without the scheduler). The metrics
-- endpoint derives records processed, rows quarantined, stage durations, errors by kind and
-- data freshness from it. Times are microseconds since the Unix epoch, UTC.
CREATE TABLE stage_runs (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT NOT NULL,
    stage       TEXT NOT NULL,
    name        TEXT NOT NULL,
    target      TEXT,
    status      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT NOT NULL,
    records     BIGINT,
    quarantined BIGINT,
    error_kind  TEXT,
    error       TEXT
);
CREATE INDEX stage_runs_by_target ON stage_runs (target, status, ended_at);
CREATE INDEX stage_runs_by_stage ON stage_runs (stage, status);
