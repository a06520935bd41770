//! `dataflow scheduler`: the scheduler loop in the foreground until SIGTERM or Ctrl-C.

use std::sync::Arc;

use dataflow_core::config::Project;
use dataflow_orchestrator::clock::SystemClock;
use dataflow_orchestrator::executor::{Scheduler, Shutdown};
use tokio::sync::watch;

use super::orchestrator;

/// Runs the scheduler until stopped.
pub async fn run(project: &Project) -> anyhow::Result<()> {
    let orch = orchestrator::open(project).await?;
    let mut scheduler = Scheduler::start(
        orch.store.clone(),
        orch.bag.clone(),
        orch.options.clone(),
        Arc::new(SystemClock),
    )
    .await?;
    let shutdown = Shutdown::default();
    stop_on_signals(Some(shutdown.clone()));
    scheduler.run(shutdown).await?;
    Ok(())
}

/// Counts SIGTERM and SIGINT (Ctrl-C) in the returned channel, and passes each on to
/// `scheduler` as a stop request: the first lets running tasks finish, the second hands them
/// back.
pub fn stop_on_signals(scheduler: Option<Shutdown>) -> watch::Receiver<u32> {
    let (count, received) = watch::channel(0u32);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM/SIGINT; stop the process with SIGKILL");
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            count.send_modify(|n| *n += 1);
            if let Some(scheduler) = &scheduler {
                tracing::info!(
                    "stop requested: running tasks finish first (signal again to stop them now)"
                );
                scheduler.request();
            }
        }
    });
    received
}
