//! `dataflow scheduler`: the scheduler loop in the foreground until SIGTERM or Ctrl-C.

use std::sync::Arc;

use dataflow_core::config::Project;
use dataflow_orchestrator::clock::SystemClock;
use dataflow_orchestrator::executor::{Scheduler, Shutdown};

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
    let signals = shutdown.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!(
                "stop requested: running tasks finish first (signal again to stop them now)"
            );
            signals.request();
        }
    });
    scheduler.run(shutdown).await?;
    Ok(())
}
