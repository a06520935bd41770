//! Memory settings by kind of command. A batch command (a models build, an ingest, a
//! validation) allocates gigabytes in bursts and exits: handing freed memory back to the
//! kernel and faulting it in again costs page faults and page zeroing, and with transparent
//! huge pages every fault zeroes 2 MiB (18% of a `customer_360` build's samples were
//! `clear_page_erms` under huge-page faults). Measured on `models build` at 1M customers /
//! 10M transactions: 8.5 of 54 CPU-seconds were kernel time with mimalloc's defaults, 2.3-2.5
//! with both settings below, for 0.1-0.2 GB more peak memory. Long-running commands (`serve`,
//! `scheduler`, `stream`) keep the defaults, so memory freed after a burst goes back to the
//! system.
//!
//! mimalloc reads its options from the environment once, before `main`, and the workspace
//! forbids the `unsafe` its option API needs; so a batch command whose environment does not
//! set `MIMALLOC_PURGE_DELAY` replaces itself (same process, arguments and streams) with a
//! copy that has it set to -1 (never purge). Setting the variable, to any value, skips that.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

/// The environment variable that chooses mimalloc's purge delay.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// Turns transparent huge pages off and, unless the environment chose a purge delay, restarts
/// the process with freed memory kept. Returns only when there is nothing to restart (or the
/// restart failed: the command then runs with mimalloc's defaults).
pub fn tune_for_batch() {
    // Best effort: a kernel without the prctl keeps huge pages.
    let _ = nix::sys::prctl::set_thp_disable(true);
    if let Some(mut command) = restart(std::env::var_os(PURGE_DELAY), std::env::current_exe()) {
        let err = command.exec();
        tracing::debug!("could not restart with {PURGE_DELAY}=-1: {err}");
    }
}

/// The command that restarts this process with the purge delay set, if it needs one.
fn restart(
    purge_delay: Option<OsString>,
    exe: std::io::Result<std::path::PathBuf>,
) -> Option<std::process::Command> {
    if purge_delay.is_some() {
        return None;
    }
    let exe = exe.ok()?;
    let mut command = std::process::Command::new(exe);
    command
        .args(std::env::args_os().skip(1))
        .env(PURGE_DELAY, "-1");
    Some(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_only_without_a_chosen_purge_delay() {
        let exe = || Ok(std::path::PathBuf::from("/bin/true"));
        assert!(restart(Some("10".into()), exe()).is_none());
        let command = restart(None, exe()).expect("a restart");
        let envs: Vec<_> = command.get_envs().collect();
        assert_eq!(
            envs,
            vec![(
                std::ffi::OsStr::new(PURGE_DELAY),
                Some(std::ffi::OsStr::new("-1"))
            )]
        );
        assert_eq!(command.get_program(), "/bin/true");
        assert!(restart(None, Err(std::io::Error::other("gone"))).is_none());
    }
}
