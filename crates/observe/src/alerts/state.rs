//! Alert state across evaluations, in the `alerts` table: an alert found for the first time
//! is new, one still found is repeated only after the repeat interval, one no longer found is
//! resolved. What needs sending stays pending until a delivery succeeds, so a webhook that is
//! down gets the same notifications at the next evaluation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dataflow_orchestrator::store::{Row, Store};
use serde::Serialize;

use super::Alert;
use crate::collect::Error;

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAlert {
    /// Name and sorted labels.
    pub fingerprint: String,
    /// The alert.
    pub alert: Alert,
    /// `firing` or `resolved`.
    pub status: String,
    /// When it was first found (this time round).
    pub starts_at: DateTime<Utc>,
    /// When it was resolved.
    pub ends_at: Option<DateTime<Utc>>,
}

/// Something to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// The alert.
    pub alert: StoredAlert,
    /// `new`, `repeat` or `resolved`.
    pub reason: &'static str,
}

/// Records this evaluation's `alerts` at `now`: new ones start firing, missing ones resolve.
/// Returns every alert firing now and the notifications pending (new, due for repeat, or
/// resolved and not yet sent).
pub async fn reconcile(
    store: &Store,
    alerts: &[Alert],
    now: DateTime<Utc>,
    repeat: Duration,
) -> Result<(Vec<StoredAlert>, Vec<Notification>), Error> {
    let now_us = now.timestamp_micros();
    let mut tx = store.db.begin().await?;
    let current: BTreeMap<String, &Alert> = alerts.iter().map(|a| (a.fingerprint(), a)).collect();
    let firing: BTreeSet<String> = tx
        .query(
            "SELECT fingerprint FROM alerts WHERE status = 'firing'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.str(0).map(str::to_string))
        .collect::<Result<_, _>>()?;
    for (fingerprint, alert) in &current {
        let labels = serde_json::to_string(&alert.labels).unwrap_or_default();
        let annotations = serde_json::to_string(&alert.annotations).unwrap_or_default();
        if firing.contains(fingerprint) {
            tx.execute(
                "UPDATE alerts SET annotations = $1, value = $2, last_seen_at = $3 \
                 WHERE fingerprint = $4",
                &[
                    annotations.into(),
                    alert.value.into(),
                    now_us.into(),
                    fingerprint.into(),
                ],
            )
            .await?;
        } else {
            // New, or firing again after it resolved: a fresh start and a fresh notification.
            tx.execute(
                "DELETE FROM alerts WHERE fingerprint = $1",
                &[fingerprint.into()],
            )
            .await?;
            tx.execute(
                "INSERT INTO alerts (fingerprint, alertname, severity, labels, annotations, \
                 value, status, starts_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'firing', $7, $7)",
                &[
                    fingerprint.into(),
                    alert.name.as_str().into(),
                    alert.severity.as_str().into(),
                    labels.into(),
                    annotations.into(),
                    alert.value.into(),
                    now_us.into(),
                ],
            )
            .await?;
        }
    }
    for fingerprint in firing.iter().filter(|f| !current.contains_key(*f)) {
        tx.execute(
            "UPDATE alerts SET status = 'resolved', ends_at = $1 WHERE fingerprint = $2",
            &[now_us.into(), fingerprint.into()],
        )
        .await?;
    }
    let repeat_us = i64::try_from(repeat.as_micros()).unwrap_or(i64::MAX);
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM alerts WHERE \
                 (status = 'firing' AND (last_notified_at IS NULL OR last_notified_at <= $1)) \
                 OR (status = 'resolved' AND (last_notified_at IS NULL \
                     OR last_notified_at < ends_at)) \
                 ORDER BY alertname, fingerprint"
            ),
            &[now_us.saturating_sub(repeat_us).into()],
        )
        .await?;
    let mut pending = Vec::new();
    for r in &rows {
        let notified = r.opt_i64(COLUMN_COUNT)?;
        let alert = stored(r)?;
        let reason = match (alert.status.as_str(), notified) {
            ("resolved", _) => "resolved",
            (_, None) => "new",
            _ => "repeat",
        };
        pending.push(Notification { alert, reason });
    }
    let open = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM alerts WHERE status = 'firing' \
                 ORDER BY alertname, fingerprint"
            ),
            &[],
        )
        .await?
        .iter()
        .map(stored)
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit().await?;
    Ok((open, pending))
}

/// Records that `notifications` were delivered at `now`.
pub async fn mark_notified(
    store: &Store,
    notifications: &[Notification],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let mut tx = store.db.begin().await?;
    for n in notifications {
        tx.execute(
            "UPDATE alerts SET last_notified_at = $1 WHERE fingerprint = $2",
            &[
                now.timestamp_micros().into(),
                n.alert.fingerprint.as_str().into(),
            ],
        )
        .await?;
    }
    tx.commit().await
}

/// Alerts firing now, and those resolved in the last `recent`, newest first.
pub async fn open_alerts(
    store: &Store,
    now: DateTime<Utc>,
    recent: Duration,
) -> Result<Vec<StoredAlert>, Error> {
    let since = now
        .timestamp_micros()
        .saturating_sub(i64::try_from(recent.as_micros()).unwrap_or(i64::MAX));
    store
        .db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM alerts WHERE status = 'firing' OR ends_at >= $1 \
                 ORDER BY status, starts_at DESC, fingerprint"
            ),
            &[since.into()],
        )
        .await?
        .iter()
        .map(stored)
        .collect()
}

const COLUMNS: &str = "fingerprint, alertname, severity, labels, annotations, value, status, \
                       starts_at, ends_at, last_notified_at";

/// Index of `last_notified_at` in [`COLUMNS`].
const COLUMN_COUNT: usize = 9;

fn stored(r: &Row) -> Result<StoredAlert, Error> {
    let json = |i: usize| -> Result<BTreeMap<String, String>, Error> {
        Ok(serde_json::from_str(r.str(i)?).unwrap_or_default())
    };
    Ok(StoredAlert {
        fingerprint: r.str(0)?.to_string(),
        alert: Alert {
            name: r.str(1)?.to_string(),
            severity: r.str(2)?.to_string(),
            labels: json(3)?,
            annotations: json(4)?,
            value: r.opt_f64(5)?.unwrap_or(f64::NAN),
        },
        status: r.str(6)?.to_string(),
        starts_at: instant(r.i64(7)?),
        ends_at: r.opt_i64(8)?.map(instant),
    })
}

fn instant(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::UNIX_EPOCH)
}
