//! Scheduler liveness: each scheduler process registers, heartbeats, and on start and every
//! loop recovers the task instances of schedulers that died — immediately when the dead one ran
//! on this host (its pid is gone), otherwise after `scheduler_timeout_secs` without a heartbeat.

use chrono::{DateTime, Duration, Utc};

use super::Store;
use super::records::micros;
use crate::error::Result;

/// A task instance taken back from a dead scheduler.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The instance's row id.
    pub ti_pk: i64,
    /// The task's id.
    pub task_id: String,
    /// The process group its attempt ran in, when on this host (to be stopped).
    pub pgid: Option<i64>,
    /// The dead scheduler.
    pub owner: String,
    /// The run's DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// The attempt that was running (its number and start), now recorded `orphaned`.
    pub orphaned: Option<(i64, DateTime<Utc>)>,
}

impl Store {
    /// Registers a scheduler process.
    pub async fn register_scheduler(
        &self,
        id: &str,
        hostname: &str,
        pid: u32,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO schedulers (id, hostname, pid, started_at, heartbeat_at) \
                 VALUES ($1, $2, $3, $4, $4)",
                &[id.into(), hostname.into(), pid.into(), micros(now).into()],
            )
            .await?;
        Ok(())
    }

    /// Records that a scheduler is alive.
    pub async fn heartbeat(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "UPDATE schedulers SET heartbeat_at = $1 WHERE id = $2",
                &[micros(now).into(), id.into()],
            )
            .await?;
        Ok(())
    }

    /// Marks a scheduler stopped (a graceful exit).
    pub async fn stop_scheduler(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "UPDATE schedulers SET stopped_at = $1 WHERE id = $2",
                &[micros(now).into(), id.into()],
            )
            .await?;
        Ok(())
    }

    /// Takes back the queued and running instances of dead schedulers: each attempt that was
    /// running is recorded as `orphaned` and the instance goes back to `scheduled` for a new
    /// attempt that does not use up a retry. Returns what was recovered.
    pub async fn recover_orphans(
        &self,
        me: &str,
        hostname: &str,
        timeout: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Recovered>> {
        let rows = self
            .db
            .query(
                // Stopped schedulers matter only while they still hold task instances.
                "SELECT s.id, s.hostname, s.pid, s.heartbeat_at, s.stopped_at FROM schedulers s \
                 WHERE s.id <> $1 AND (s.stopped_at IS NULL OR EXISTS (SELECT 1 FROM \
                 task_instances t WHERE t.owner = s.id AND t.state IN ('queued', 'running')))",
                &[me.into()],
            )
            .await?;
        let cutoff = micros(now - timeout);
        let mut dead = Vec::new();
        for row in &rows {
            let (id, host, pid, beat, stopped) = (
                row.str(0)?,
                row.str(1)?,
                row.i64(2)?,
                row.i64(3)?,
                row.opt_i64(4)?,
            );
            let gone =
                stopped.is_some() || beat < cutoff || (host == hostname && !process_alive(pid));
            if gone {
                dead.push(id.to_string());
            }
        }
        let mut recovered = Vec::new();
        for owner in dead {
            recovered.extend(self.release_owner(&owner, now).await?);
        }
        Ok(recovered)
    }

    /// Takes back the queued and running instances of one scheduler (a dead one, or this
    /// process stopping at once): each running attempt is recorded as `orphaned`, and the
    /// instance goes back to `scheduled` for a new attempt that does not use up a retry. The
    /// scheduler is marked stopped.
    pub async fn release_owner(&self, owner: &str, now: DateTime<Utc>) -> Result<Vec<Recovered>> {
        let mut recovered = Vec::new();
        let mut tx = self.db.begin().await?;
        let held = tx
            .query(
                "SELECT t.id, t.task_id, t.state, t.pgid, t.try_number, r.dag_id, r.run_id, \
                 t.started_at FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk \
                 WHERE t.owner = $1 AND t.state IN ('queued', 'running')",
                &[owner.into()],
            )
            .await?;
        for row in &held {
            let (ti_pk, task_id, state, pgid, try_number) = (
                row.i64(0)?,
                row.str(1)?.to_string(),
                row.str(2)?.to_string(),
                row.opt_i64(3)?,
                row.i64(4)?,
            );
            let (dag_id, run_id, started) = (
                row.str(5)?.to_string(),
                row.str(6)?.to_string(),
                row.opt_i64(7)?.map(super::records::instant),
            );
            let bump = i64::from(state == "running");
            tx.execute(
                "UPDATE task_instances SET state = 'scheduled', owner = NULL, pgid = NULL, \
                 waiting_since = NULL, max_tries = max_tries + $1, updated_at = $2 \
                 WHERE id = $3 AND owner = $4",
                &[bump.into(), micros(now).into(), ti_pk.into(), owner.into()],
            )
            .await?;
            if bump == 1 {
                tx.execute(
                    "UPDATE task_attempts SET state = 'orphaned', ended_at = $1, \
                     error = $2 WHERE ti_pk = $3 AND attempt = $4",
                    &[
                        micros(now).into(),
                        format!("scheduler {owner} stopped while the attempt ran").into(),
                        ti_pk.into(),
                        try_number.into(),
                    ],
                )
                .await?;
            }
            recovered.push(Recovered {
                ti_pk,
                task_id,
                pgid,
                owner: owner.to_string(),
                dag_id,
                run_id,
                orphaned: (bump == 1).then(|| (try_number, started.unwrap_or(now))),
            });
        }
        tx.execute(
            "UPDATE schedulers SET stopped_at = COALESCE(stopped_at, $1) WHERE id = $2",
            &[micros(now).into(), owner.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(recovered)
    }
}

/// Whether a process with this pid exists on this host.
fn process_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
