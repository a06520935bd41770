//! Run and task-instance states (Airflow's names) and the trigger-rule decision: given the
//! states of a task's upstreams, does it wait, run, skip, or fail as `upstream_failed`?

use std::fmt;

use crate::spec::TriggerRule;

/// The state of one task instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Not yet ready: upstreams still running.
    None,
    /// Ready to run, waiting for a slot.
    Scheduled,
    /// Claimed by a scheduler, about to start.
    Queued,
    /// An attempt is running.
    Running,
    /// Finished successfully.
    Success,
    /// Failed with no retries left.
    Failed,
    /// Failed; another attempt is due at `next_try_at`.
    UpForRetry,
    /// A sensor gave its slot back; it pokes again at `next_try_at`.
    UpForReschedule,
    /// Skipped by a trigger rule, a soft-failed sensor or exit code 99.
    Skipped,
    /// Not run because an upstream failed.
    UpstreamFailed,
}

impl TaskState {
    /// Every state, for listings.
    pub const ALL: [TaskState; 10] = [
        TaskState::None,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Success,
        TaskState::Failed,
        TaskState::UpForRetry,
        TaskState::UpForReschedule,
        TaskState::Skipped,
        TaskState::UpstreamFailed,
    ];

    /// The name stored in the metadata store and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::None => "none",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::UpForReschedule => "up_for_reschedule",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the task instance is finished for this run (until cleared).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Skipped | TaskState::UpstreamFailed
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a DAG run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Created, waiting for `max_active_runs`.
    Queued,
    /// Tasks are being scheduled.
    Running,
    /// Every leaf task succeeded or was skipped.
    Success,
    /// A leaf task failed or was not run because an upstream failed.
    Failed,
}

impl RunState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<RunState> {
        [
            RunState::Queued,
            RunState::Running,
            RunState::Success,
            RunState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether the run is finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Success | RunState::Failed)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a trigger rule decides for a task whose upstreams are in the given states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not decidable yet.
    Wait,
    /// Ready to run.
    Run,
    /// Mark skipped.
    Skip,
    /// Mark upstream_failed.
    UpstreamFailed,
}

/// Applies a trigger rule, with Airflow's semantics: most rules wait for every upstream to
/// finish; `one_success` and `one_failed` fire as soon as one upstream qualifies.
pub fn decide(rule: TriggerRule, upstream: &[TaskState]) -> Decision {
    let count = |f: fn(TaskState) -> bool| upstream.iter().filter(|s| f(**s)).count();
    let total = upstream.len();
    let success = count(|s| s == TaskState::Success);
    let failed = count(|s| matches!(s, TaskState::Failed | TaskState::UpstreamFailed));
    let skipped = count(|s| s == TaskState::Skipped);
    let done = count(TaskState::is_terminal);
    let all_done = done == total;
    match rule {
        TriggerRule::AllSuccess => {
            if failed > 0 {
                Decision::UpstreamFailed
            } else if skipped > 0 {
                Decision::Skip
            } else if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::AllDone | TriggerRule::Always => {
            if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::AllFailed => {
            if success > 0 || skipped > 0 {
                Decision::Skip
            } else if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::AllSkipped => {
            if success > 0 || failed > 0 {
                Decision::Skip
            } else if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::OneSuccess => {
            if success > 0 || total == 0 {
                Decision::Run
            } else if !all_done {
                Decision::Wait
            } else if failed > 0 {
                Decision::UpstreamFailed
            } else {
                Decision::Skip
            }
        }
        TriggerRule::OneFailed => {
            if failed > 0 {
                Decision::Run
            } else if !all_done {
                Decision::Wait
            } else {
                Decision::Skip
            }
        }
        TriggerRule::NoneFailed => {
            if failed > 0 {
                Decision::UpstreamFailed
            } else if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
        TriggerRule::NoneFailedMinOneSuccess => {
            if failed > 0 {
                Decision::UpstreamFailed
            } else if !all_done {
                Decision::Wait
            } else if success > 0 || total == 0 {
                Decision::Run
            } else {
                Decision::Skip
            }
        }
        TriggerRule::NoneSkipped => {
            if skipped > 0 {
                Decision::Skip
            } else if all_done {
                Decision::Run
            } else {
                Decision::Wait
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use TaskState as S;

    #[test]
    fn every_trigger_rule() {
        let cases: &[(TriggerRule, &[S], Decision)] = &[
            (TriggerRule::AllSuccess, &[], Run),
            (TriggerRule::AllSuccess, &[S::Success, S::Success], Run),
            (TriggerRule::AllSuccess, &[S::Success, S::Running], Wait),
            (
                TriggerRule::AllSuccess,
                &[S::Failed, S::Running],
                UpstreamFailed,
            ),
            (
                TriggerRule::AllSuccess,
                &[S::UpstreamFailed],
                UpstreamFailed,
            ),
            (TriggerRule::AllSuccess, &[S::Skipped, S::Success], Skip),
            (TriggerRule::AllSuccess, &[S::UpForRetry], Wait),
            (
                TriggerRule::AllDone,
                &[S::Failed, S::Skipped, S::Success],
                Run,
            ),
            (TriggerRule::AllDone, &[S::Failed, S::UpForRetry], Wait),
            (TriggerRule::AllFailed, &[S::Failed, S::UpstreamFailed], Run),
            (TriggerRule::AllFailed, &[S::Failed, S::Success], Skip),
            (TriggerRule::AllFailed, &[S::Failed, S::Running], Wait),
            (TriggerRule::OneSuccess, &[S::Success, S::Running], Run),
            (TriggerRule::OneSuccess, &[S::Failed, S::Running], Wait),
            (
                TriggerRule::OneSuccess,
                &[S::Failed, S::Skipped],
                UpstreamFailed,
            ),
            (TriggerRule::OneSuccess, &[S::Skipped, S::Skipped], Skip),
            (TriggerRule::OneFailed, &[S::Failed, S::Running], Run),
            (TriggerRule::OneFailed, &[S::Success, S::Running], Wait),
            (TriggerRule::OneFailed, &[S::Success, S::Skipped], Skip),
            (TriggerRule::NoneFailed, &[S::Success, S::Skipped], Run),
            (
                TriggerRule::NoneFailed,
                &[S::Success, S::UpstreamFailed],
                UpstreamFailed,
            ),
            (TriggerRule::NoneFailed, &[S::Success, S::Scheduled], Wait),
            (
                TriggerRule::NoneFailedMinOneSuccess,
                &[S::Skipped, S::Success],
                Run,
            ),
            (
                TriggerRule::NoneFailedMinOneSuccess,
                &[S::Skipped, S::Skipped],
                Skip,
            ),
            (
                TriggerRule::NoneFailedMinOneSuccess,
                &[S::Failed, S::Running],
                UpstreamFailed,
            ),
            (TriggerRule::NoneSkipped, &[S::Success, S::Failed], Run),
            (TriggerRule::NoneSkipped, &[S::Success, S::Skipped], Skip),
            (TriggerRule::NoneSkipped, &[S::Success, S::Queued], Wait),
            (TriggerRule::AllSkipped, &[S::Skipped, S::Skipped], Run),
            (TriggerRule::AllSkipped, &[S::Skipped, S::Success], Skip),
            (TriggerRule::Always, &[S::Failed, S::UpstreamFailed], Run),
        ];
        for (rule, states, expected) in cases {
            assert_eq!(decide(*rule, states), *expected, "{rule:?} with {states:?}");
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in TaskState::ALL {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
        }
        assert_eq!(RunState::parse("failed"), Some(RunState::Failed));
        assert_eq!(TaskState::parse("bogus"), None);
    }
}
