//! Queries of the metadata store's history that both the metrics endpoint and the alert
//! conditions read, so a scrape and an alert evaluation agree on what "latest score" and
//! "last load" mean.

use dataflow_orchestrator::store::Db;

use crate::collect::Error;

/// The latest validation of one suite on one table.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestQuality {
    /// The table (or file) validated.
    pub table: String,
    /// The suite.
    pub suite: String,
    /// The data quality score (0-1): the share of rows passing every row-level expectation,
    /// or of expectations passed when the suite has none.
    pub score: f64,
    /// Whether every expectation passed.
    pub success: bool,
    /// Expectations evaluated.
    pub evaluated: i64,
    /// Expectations that passed.
    pub successful: i64,
    /// When (microseconds since the epoch).
    pub validated_at: i64,
}

/// The latest result of every suite and table, in table and suite order.
pub async fn latest_quality(db: &Db) -> Result<Vec<LatestQuality>, Error> {
    let rows = db
        .query(
            "SELECT q.data, q.suite, q.data_quality_score, q.success_percent, q.success, \
             q.evaluated, q.successful, q.validated_at \
             FROM quality_results q JOIN (\
               SELECT data, suite, MAX(id) AS id FROM quality_results GROUP BY data, suite\
             ) l ON q.id = l.id ORDER BY q.data, q.suite",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let score = match r.opt_f64(2)? {
                Some(s) => s,
                None => r.f64(3)? / 100.0,
            };
            Ok(LatestQuality {
                table: r.str(0)?.to_string(),
                suite: r.str(1)?.to_string(),
                score,
                success: r.bool(4)?,
                evaluated: r.i64(5)?,
                successful: r.i64(6)?,
                validated_at: r.i64(7)?,
            })
        })
        .collect()
}

/// The end (microseconds since the epoch) of the latest successful load of every table, in
/// table order. A load is an ingest or stream batch that wrote rows, or a seed or model build
/// (which rewrite their table even when it stays empty).
pub async fn last_loads(db: &Db) -> Result<Vec<(String, i64)>, Error> {
    let rows = db
        .query(
            "SELECT target, MAX(ended_at) FROM stage_runs WHERE target IS NOT NULL \
             AND status = 'success' AND stage IN ('ingest', 'seed', 'model', 'stream') \
             AND NOT (stage IN ('ingest', 'stream') AND COALESCE(records, 0) = 0) \
             GROUP BY target ORDER BY target",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.str(0)?.to_string(), r.i64(1)?)))
        .collect()
}
