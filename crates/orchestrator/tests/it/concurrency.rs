//! Concurrency limits: never more attempts at once than worker slots, never more than a pool's
//! slots, and a pool's queue drained by priority. Each task records when its process started
//! and ended; the checks count overlaps of those intervals, not durations. Each body takes the
//! store URL (SQLite when `None`); `postgres.rs` runs them on PostgreSQL too.

use std::collections::BTreeMap;
use std::path::Path;

use dataflow_orchestrator::state::RunState;

use crate::common::{Setup, TestResult};

/// The shell command of a task that records its start and end (ns) in `times/<name>.*`.
const TIMED: &str =
    r#"date +%s%N > "times/{{ item }}.start"; sleep 0.3; date +%s%N > "times/{{ item }}.end""#;

/// Start and end of every task's process, by map item.
fn intervals(dir: &Path) -> TestResult<BTreeMap<String, (u128, u128)>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("start") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("bad file name")?
            .to_string();
        let start: u128 = std::fs::read_to_string(&path)?.trim().parse()?;
        let end: u128 = std::fs::read_to_string(path.with_extension("end"))?
            .trim()
            .parse()?;
        assert!(start <= end, "{name}: start after end");
        out.insert(name, (start, end));
    }
    Ok(out)
}

/// The largest number of intervals open at once.
fn max_overlap(intervals: &BTreeMap<String, (u128, u128)>) -> usize {
    // Ends sort before starts at the same instant: touching intervals do not overlap.
    let mut events: Vec<(u128, i8)> = intervals
        .values()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    events.sort();
    let (mut open, mut max) = (0i64, 0i64);
    for (_, delta) in events {
        open += i64::from(delta);
        max = max.max(open);
    }
    usize::try_from(max).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_slots_bound_parallel_attempts() -> TestResult {
    worker_slots_bound_parallel_attempts_on(None).await
}

/// Six tasks on two worker slots: never more than two run at once.
pub async fn worker_slots_bound_parallel_attempts_on(url: Option<&str>) -> TestResult {
    let yaml = format!(
        "dag_id: slots\ntasks:\n  - id: work\n    type: shell\n    map: [1, 2, 3, 4, 5, 6]\n    command: '{TIMED}'\n"
    );
    let mut h = Setup {
        url,
        tweak: &|o| o.workers = 2,
        ..Setup::new(&yaml)
    }
    .build()
    .await?;
    std::fs::create_dir_all(h.project.path("times"))?;
    let run = h.run(serde_json::Value::Null).await?;
    assert_eq!(run.state, RunState::Success);
    let times = intervals(&h.project.path("times"))?;
    assert_eq!(times.len(), 6, "{times:?}");
    let max = max_overlap(&times);
    assert!(
        (1..=2).contains(&max),
        "{max} attempts overlapped: {times:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_with_one_slot_serializes_its_tasks_by_priority() -> TestResult {
    pool_with_one_slot_serializes_its_tasks_by_priority_on(None).await
}

/// Three tasks in a pool of one slot run one at a time, highest priority first.
pub async fn pool_with_one_slot_serializes_its_tasks_by_priority_on(
    url: Option<&str>,
) -> TestResult {
    let yaml = format!(
        r#"
dag_id: pooled
tasks:
  - id: low
    type: shell
    pool: serial
    priority_weight: 1
    map: [low]
    command: '{TIMED}'
  - id: high
    type: shell
    pool: serial
    priority_weight: 3
    map: [high]
    command: '{TIMED}'
  - id: mid
    type: shell
    pool: serial
    priority_weight: 2
    map: [mid]
    command: '{TIMED}'
  - id: free
    type: shell
    map: [free]
    command: '{TIMED}'
"#
    );
    let mut h = Setup {
        url,
        tweak: &|o| {
            o.workers = 4;
            o.pools.insert("serial".to_string(), 1);
        },
        ..Setup::new(&yaml)
    }
    .build()
    .await?;
    std::fs::create_dir_all(h.project.path("times"))?;
    let run = h.run(serde_json::Value::Null).await?;
    assert_eq!(run.state, RunState::Success);
    let mut times = intervals(&h.project.path("times"))?;
    assert_eq!(times.len(), 4, "{times:?}");
    // `free` is in the default pool and may run alongside.
    times.remove("free");
    assert_eq!(max_overlap(&times), 1, "pool tasks overlapped: {times:?}");
    let mut order: Vec<(&u128, &str)> = times.iter().map(|(k, (s, _))| (s, k.as_str())).collect();
    order.sort();
    let order: Vec<&str> = order.into_iter().map(|(_, k)| k).collect();
    assert_eq!(order, ["high", "mid", "low"]);
    Ok(())
}
