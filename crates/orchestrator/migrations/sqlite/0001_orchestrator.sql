-- The orchestrator's run history (SQLite dialect). Times are microseconds since the Unix epoch,
-- UTC. The PostgreSQL file of the same number creates the same tables and columns.

CREATE TABLE dags (
    dag_id      TEXT PRIMARY KEY,
    is_paused   BIGINT NOT NULL DEFAULT 0,
    fileloc     TEXT,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE dag_runs (
    id                  INTEGER PRIMARY KEY,
    dag_id              TEXT NOT NULL,
    run_id              TEXT NOT NULL,
    run_type            TEXT NOT NULL,
    state               TEXT NOT NULL,
    logical_date        BIGINT NOT NULL,
    data_interval_start BIGINT,
    data_interval_end   BIGINT,
    conf                TEXT NOT NULL DEFAULT '{}',
    spec                TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    started_at          BIGINT,
    ended_at            BIGINT,
    UNIQUE (dag_id, run_id)
);
CREATE INDEX dag_runs_by_state ON dag_runs (state, dag_id);

CREATE TABLE task_instances (
    id           INTEGER PRIMARY KEY,
    run_pk       BIGINT NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
    task_id      TEXT NOT NULL,
    state        TEXT NOT NULL,
    try_number   BIGINT NOT NULL DEFAULT 0,
    max_tries    BIGINT NOT NULL,
    pool         TEXT NOT NULL,
    priority     BIGINT NOT NULL DEFAULT 0,
    next_try_at  BIGINT,
    waiting_since BIGINT,
    owner        TEXT,
    pgid         BIGINT,
    started_at   BIGINT,
    ended_at     BIGINT,
    updated_at   BIGINT NOT NULL,
    UNIQUE (run_pk, task_id)
);
CREATE INDEX task_instances_by_state ON task_instances (state);

CREATE TABLE task_attempts (
    id          INTEGER PRIMARY KEY,
    ti_pk       BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    state       TEXT NOT NULL,
    owner       TEXT,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    exit_code   BIGINT,
    error       TEXT,
    log_path    TEXT NOT NULL,
    UNIQUE (ti_pk, attempt)
);

CREATE TABLE schedulers (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT
);

CREATE TABLE sla_misses (
    dag_id       TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    task_id      TEXT NOT NULL,
    deadline     BIGINT NOT NULL,
    detected_at  BIGINT NOT NULL,
    notified     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dag_id, run_id, task_id)
);
