//! Quality results in the store: each checkpoint's validated suites, so alerts, dashboards and
//! the metrics endpoint read quality history from the same place as run history.

use chrono::{DateTime, Utc};

use super::Store;
use super::records::{instant, micros};
use crate::error::Result;

/// One validated suite on one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityResult {
    /// The run (invocation) id of the checkpoint.
    pub run_id: String,
    /// The checkpoint's name.
    pub checkpoint: String,
    /// The suite's name.
    pub suite: String,
    /// The dataset (table or file).
    pub data: String,
    /// When it was validated.
    pub validated_at: DateTime<Utc>,
    /// Whether every expectation passed.
    pub success: bool,
    /// Expectations evaluated.
    pub evaluated: i64,
    /// Expectations that passed.
    pub successful: i64,
    /// Percent of expectations that passed.
    pub success_percent: f64,
    /// Share of rows passing every row-level expectation, when known.
    pub data_quality_score: Option<f64>,
    /// The GE validation result as JSON.
    pub result: String,
}

impl Store {
    /// Records one result.
    pub async fn record_quality_result(&self, r: &QualityResult) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO quality_results (run_id, checkpoint, suite, data, validated_at, \
                 success, evaluated, successful, success_percent, data_quality_score, result) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    r.run_id.as_str().into(),
                    r.checkpoint.as_str().into(),
                    r.suite.as_str().into(),
                    r.data.as_str().into(),
                    micros(r.validated_at).into(),
                    r.success.into(),
                    r.evaluated.into(),
                    r.successful.into(),
                    r.success_percent.into(),
                    r.data_quality_score.into(),
                    r.result.as_str().into(),
                ],
            )
            .await?;
        Ok(())
    }

    /// The latest results, newest first, optionally of one dataset.
    pub async fn quality_results(
        &self,
        data: Option<&str>,
        limit: i64,
    ) -> Result<Vec<QualityResult>> {
        let rows = self
            .db
            .query(
                "SELECT run_id, checkpoint, suite, data, validated_at, success, evaluated, \
                 successful, success_percent, data_quality_score, result FROM quality_results \
                 WHERE $1 = '' OR data = $1 ORDER BY validated_at DESC, id DESC LIMIT $2",
                &[data.unwrap_or("").into(), limit.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(QualityResult {
                    run_id: r.str(0)?.to_string(),
                    checkpoint: r.str(1)?.to_string(),
                    suite: r.str(2)?.to_string(),
                    data: r.str(3)?.to_string(),
                    validated_at: instant(r.i64(4)?),
                    success: r.bool(5)?,
                    evaluated: r.i64(6)?,
                    successful: r.i64(7)?,
                    success_percent: r.f64(8)?,
                    data_quality_score: r.opt_f64(9)?,
                    result: r.str(10)?.to_string(),
                })
            })
            .collect()
    }
}
