//! Stage runs in the store: each source ingested, model or seed built, test run and suite
//! validated, by whichever command ran it. Batch commands record here and push nothing
//! anywhere; `dataflow serve` turns the history into metrics, so a scrape sees every run.

use chrono::{DateTime, Utc};

use super::Store;
use super::records::{instant, micros};
use crate::error::Result;

/// What kind of work a stage run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// A source loaded into the lake.
    Ingest,
    /// An expectation suite validated by a checkpoint.
    Quality,
    /// A seed loaded.
    Seed,
    /// A model built.
    Model,
    /// A data test (schema, singular or unit test).
    Test,
    /// A micro-batch of the stream processor.
    Stream,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Ingest,
        Stage::Quality,
        Stage::Seed,
        Stage::Model,
        Stage::Test,
        Stage::Stream,
    ];

    /// The name stored and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Quality => "quality",
            Stage::Seed => "seed",
            Stage::Model => "model",
            Stage::Test => "test",
            Stage::Stream => "stream",
        }
    }

    /// The stage of a stored name.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// How a stage run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageStatus {
    /// Done.
    Success,
    /// Done, with warnings (a test or suite of warning severity failed).
    Warn,
    /// Failed.
    Failed,
    /// Not run because something upstream failed.
    Skipped,
}

impl StageStatus {
    /// Every status.
    pub const ALL: [StageStatus; 4] = [
        StageStatus::Success,
        StageStatus::Warn,
        StageStatus::Failed,
        StageStatus::Skipped,
    ];

    /// The name stored and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Success => "success",
            StageStatus::Warn => "warn",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
        }
    }

    /// The status of a stored name.
    pub fn parse(name: &str) -> Option<StageStatus> {
        StageStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One stage run.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRun {
    /// The invocation (or DAG run) that did it.
    pub run_id: String,
    /// What kind of work.
    pub stage: Stage,
    /// The source, suite, seed, model or test.
    pub name: String,
    /// The lake table written or validated, when there is one.
    pub target: Option<String>,
    /// How it ended.
    pub status: StageStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Rows written (ingest, seed, model) or checked (quality), when known.
    pub records: Option<i64>,
    /// Rows set aside as bad (ingest and quality quarantine).
    pub quarantined: Option<i64>,
    /// A short, bounded error class (`config`, `io`, `parse`, `sql`, `expectations`, ...).
    pub error_kind: Option<String>,
    /// The error text.
    pub error: Option<String>,
}

impl Store {
    /// Records stage runs in one transaction.
    pub async fn record_stage_runs(&self, runs: &[StageRun]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        for r in runs {
            tx.execute(
                "INSERT INTO stage_runs (run_id, stage, name, target, status, started_at, \
                 ended_at, records, quarantined, error_kind, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    r.run_id.as_str().into(),
                    r.stage.as_str().into(),
                    r.name.as_str().into(),
                    r.target.as_deref().into(),
                    r.status.as_str().into(),
                    micros(r.started_at).into(),
                    micros(r.ended_at).into(),
                    r.records.into(),
                    r.quarantined.into(),
                    r.error_kind.as_deref().into(),
                    r.error.as_deref().into(),
                ],
            )
            .await?;
        }
        tx.commit().await
    }

    /// The latest stage runs, newest first, optionally of one stage.
    pub async fn stage_runs(&self, stage: Option<Stage>, limit: i64) -> Result<Vec<StageRun>> {
        let rows = self
            .db
            .query(
                "SELECT run_id, stage, name, target, status, started_at, ended_at, records, \
                 quarantined, error_kind, error FROM stage_runs \
                 WHERE $1 = '' OR stage = $1 ORDER BY ended_at DESC, id DESC LIMIT $2",
                &[stage.map_or("", Stage::as_str).into(), limit.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let stage = r.str(1)?;
                let status = r.str(4)?;
                Ok(StageRun {
                    run_id: r.str(0)?.to_string(),
                    stage: Stage::parse(stage)
                        .ok_or_else(|| r.error(format!("unknown stage `{stage}`")))?,
                    name: r.str(2)?.to_string(),
                    target: r.opt_str(3)?.map(str::to_string),
                    status: StageStatus::parse(status)
                        .ok_or_else(|| r.error(format!("unknown stage status `{status}`")))?,
                    started_at: instant(r.i64(5)?),
                    ended_at: instant(r.i64(6)?),
                    records: r.opt_i64(7)?,
                    quarantined: r.opt_i64(8)?,
                    error_kind: r.opt_str(9)?.map(str::to_string),
                    error: r.opt_str(10)?.map(str::to_string),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        for s in StageStatus::ALL {
            assert_eq!(StageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse("nope"), None);
    }
}
