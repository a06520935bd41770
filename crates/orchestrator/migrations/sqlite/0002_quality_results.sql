-- Results of quality checkpoints (SQLite dialect): one row per validated suite and dataset,
-- the history that anomaly checks, alerts and the metrics endpoint read. `result` is the full
-- Great Expectations validation result as JSON.
CREATE TABLE quality_results (
    id                 INTEGER PRIMARY KEY,
    run_id             TEXT NOT NULL,
    checkpoint         TEXT NOT NULL,
    suite              TEXT NOT NULL,
    data               TEXT NOT NULL,
    validated_at       BIGINT NOT NULL,
    success            BIGINT NOT NULL,
    evaluated          BIGINT NOT NULL,
    successful         BIGINT NOT NULL,
    success_percent    DOUBLE PRECISION NOT NULL,
    data_quality_score DOUBLE PRECISION,
    result             TEXT NOT NULL
);
CREATE INDEX quality_results_by_data ON quality_results (data, suite, validated_at);
