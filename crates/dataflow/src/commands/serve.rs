//! `dataflow serve`: the long-running process. An HTTP listener with `/metrics`, `/health` and
//! `/ready`, (unless turned off) the scheduler, and any streams named in `serve.streams` or
//! `--stream`, all in the same process. SIGTERM drains the scheduler like `dataflow scheduler`
//! and the streams like `dataflow stream`, and the listener answers until they stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use dataflow_core::config::Project;
use dataflow_observe::ServerState;
use dataflow_orchestrator::clock::SystemClock;
use dataflow_orchestrator::executor::{Scheduler, Shutdown};
use dataflow_orchestrator::store::Store;

use super::orchestrator;
use super::scheduler::stop_on_signals;
use super::serve_streams::HostedStreams;
use crate::cli::ServeArgs;

/// Runs until SIGTERM or Ctrl-C.
pub async fn run(project: &Project, args: &ServeArgs) -> anyhow::Result<()> {
    let config = &project.config.serve;
    let listen = args.listen.clone().unwrap_or_else(|| config.listen.clone());
    let host_scheduler = config.scheduler && !args.no_scheduler;
    // The pipelines are checked before the port is taken, so a typo fails fast.
    let orch = if host_scheduler {
        Some(orchestrator::open(project).await?)
    } else {
        None
    };
    let store = match &orch {
        Some(orch) => orch.store.clone(),
        None => Store::open(&orchestrator::metadata_url(project)).await?,
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| {
            format!("cannot listen on {listen} (serve.listen in dataflow.yml or --listen)")
        })?;
    let address = listener
        .local_addr()
        .context("reading the listener's address")?;
    let stream_names = if args.streams.is_empty() {
        &config.streams
    } else {
        &args.streams
    };
    let mut streams = HostedStreams::start(project, stream_names, args.brokers.as_deref())?;
    let running = host_scheduler.then(|| Arc::new(AtomicBool::new(false)));
    let state = ServerState {
        store: store.clone(),
        version: env!("CARGO_PKG_VERSION"),
        scheduler_timeout: Duration::from_secs(project.config.orchestrator.scheduler_timeout_secs),
        scheduler_running: running.clone(),
        hosted: (!streams.is_empty()).then(|| streams.families.clone()),
    };
    let shutdown = Shutdown::default();
    let mut signals = stop_on_signals(host_scheduler.then(|| shutdown.clone()));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(dataflow_observe::serve(listener, state, async move {
        let _ = http_stopped.await;
    }));
    println!(
        "dataflow serve: http://{address}/metrics (also /health, /ready); metadata store {}{}{}",
        store.db.target(),
        if host_scheduler {
            "; scheduler running"
        } else {
            "; no scheduler"
        },
        if stream_names.is_empty() {
            String::new()
        } else {
            format!("; streams {}", stream_names.join(", "))
        }
    );
    tracing::info!(%address, scheduler = host_scheduler, "serving");
    let result = match (orch, running) {
        (Some(orch), Some(running)) => {
            let mut scheduler =
                Scheduler::start(orch.store, orch.bag, orch.options, Arc::new(SystemClock)).await?;
            running.store(true, Ordering::SeqCst);
            let run = scheduler.run(shutdown.clone());
            tokio::pin!(run);
            let result = tokio::select! {
                result = &mut run => result.map_err(anyhow::Error::from),
                err = streams.failed() => {
                    tracing::error!(error = %err, "a hosted stream failed: stopping the scheduler");
                    shutdown.request();
                    let _ = run.await;
                    Err(err)
                }
            };
            running.store(false, Ordering::SeqCst);
            result
        }
        _ => {
            tokio::select! {
                _ = signals.wait_for(|n| *n > 0) => Ok(()),
                err = streams.failed() => Err(err),
            }
        }
    };
    let streams_stopped = streams.stop().await;
    let result = result.and(streams_stopped);
    let _ = stop_http.send(());
    http.await
        .context("the HTTP listener panicked")?
        .context("the HTTP listener failed")?;
    result
}
