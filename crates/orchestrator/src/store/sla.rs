//! SLA misses: a task not finished `sla` after its run's data interval ended is recorded once
//! per run and task, so the miss can be counted, listed and notified.

use chrono::{DateTime, Utc};

use super::Store;
use super::records::{instant, micros};
use crate::error::Result;

/// One recorded SLA miss.
#[derive(Debug, Clone)]
pub struct SlaMiss {
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// The task that was late.
    pub task_id: String,
    /// When it should have finished.
    pub deadline: DateTime<Utc>,
    /// When the miss was noticed.
    pub detected_at: DateTime<Utc>,
}

impl Store {
    /// Records a miss; false when it was recorded before.
    pub async fn record_sla_miss(&self, miss: &SlaMiss) -> Result<bool> {
        let inserted = self
            .db
            .execute(
                "INSERT INTO sla_misses (dag_id, run_id, task_id, deadline, detected_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dag_id, run_id, task_id) DO NOTHING",
                &[
                    miss.dag_id.as_str().into(),
                    miss.run_id.as_str().into(),
                    miss.task_id.as_str().into(),
                    micros(miss.deadline).into(),
                    micros(miss.detected_at).into(),
                ],
            )
            .await?;
        Ok(inserted > 0)
    }

    /// Recorded misses, newest first.
    pub async fn sla_misses(&self, dag_id: Option<&str>) -> Result<Vec<SlaMiss>> {
        let rows = self
            .db
            .query(
                "SELECT dag_id, run_id, task_id, deadline, detected_at FROM sla_misses \
                 WHERE $1 = '' OR dag_id = $1 ORDER BY detected_at DESC",
                &[dag_id.unwrap_or("").into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SlaMiss {
                    dag_id: r.str(0)?.to_string(),
                    run_id: r.str(1)?.to_string(),
                    task_id: r.str(2)?.to_string(),
                    deadline: instant(r.i64(3)?),
                    detected_at: instant(r.i64(4)?),
                })
            })
            .collect()
    }
}
