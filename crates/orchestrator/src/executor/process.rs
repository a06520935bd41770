//! Running a task's process: its own process group (so a timeout or a recovering scheduler can
//! stop it and everything it started), stdout and stderr appended to the attempt's log file,
//! `execution_timeout` enforced with SIGTERM, then SIGKILL after a grace period.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Command;

/// How long a process gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessEnd {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// It ran past its timeout and was killed.
    TimedOut,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec<'a> {
    /// The program.
    pub program: &'a Path,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: &'a Path,
    /// Kill it after this long.
    pub timeout: Option<Duration>,
}

/// Starts the process in a new process group with output going to `log`, reports its process
/// group id through `on_start`, and waits for it (killing it on timeout).
pub async fn run_process(
    spec: &ProcessSpec<'_>,
    log: &std::fs::File,
    on_start: impl AsyncFnOnce(i64),
) -> std::io::Result<ProcessEnd> {
    let mut command = Command::new(spec.program);
    command
        .args(&spec.args)
        .envs(&spec.env)
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log.try_clone()?))
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let pgid = child.id().map(i64::from);
    if let Some(pgid) = pgid {
        on_start(pgid).await;
    }
    let waited = match spec.timeout {
        Some(limit) => tokio::time::timeout(limit, child.wait()).await.ok(),
        None => Some(child.wait().await),
    };
    match waited {
        Some(status) => {
            let status = status?;
            if let Some(code) = status.code() {
                Ok(ProcessEnd::Exited(code))
            } else {
                use std::os::unix::process::ExitStatusExt;
                Ok(ProcessEnd::Signalled(status.signal().unwrap_or(0)))
            }
        }
        None => {
            if let Some(pgid) = pgid {
                signal_group(pgid, Signal::SIGTERM);
                if tokio::time::timeout(KILL_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    signal_group(pgid, Signal::SIGKILL);
                    let _ = child.wait().await;
                }
            }
            Ok(ProcessEnd::TimedOut)
        }
    }
}

/// Sends a signal to a process group, ignoring a group that is already gone.
pub fn signal_group(pgid: i64, signal: Signal) {
    if let Ok(pgid) = i32::try_from(pgid)
        && pgid > 1
    {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Stops a process group for good: SIGKILL (used for attempts of a dead scheduler).
pub fn kill_group(pgid: i64) {
    signal_group(pgid, Signal::SIGKILL);
}
