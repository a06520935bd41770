//! `dataflow stream [NAME]`: runs a `streams/*.yml` stream in the foreground until SIGTERM or
//! Ctrl-C (the open batch is written and committed first), or until it is idle when
//! `--idle-exit-secs` is given. While it runs, its metrics are served on `metrics.listen` (or
//! `--metrics-listen`).

use std::time::Duration;

use dataflow_core::config::Project;
use dataflow_stream::config::find_stream;
use dataflow_stream::{RunOptions, StreamMetrics, run_stream};
use tokio::sync::watch;

use crate::cli::StreamArgs;

/// Runs the stream.
pub async fn run(project: &Project, args: StreamArgs) -> anyhow::Result<()> {
    let stream = find_stream(&project.dir, args.name.as_deref())?;
    let lake = super::open_lake(project)?;
    let idle_exit = match args.idle_exit_secs {
        Some(secs) if !(secs.is_finite() && secs > 0.0) => {
            return Err(dataflow_core::Error::Usage(format!(
                "--idle-exit-secs must be above 0, got {secs}"
            ))
            .into());
        }
        Some(secs) => Some(Duration::from_secs_f64(secs)),
        None => None,
    };
    let name = stream.name.clone();
    let metrics = StreamMetrics::new();
    let listen = match (
        &args.metrics_listen,
        args.no_metrics || !stream.spec.metrics.enabled,
    ) {
        (Some(listen), _) => Some((listen.clone(), "--metrics-listen")),
        (None, true) => None,
        (None, false) => Some((
            stream.spec.metrics.listen.clone(),
            "metrics.listen in the stream file",
        )),
    };
    let _endpoint = match listen {
        Some((listen, from)) => {
            let endpoint =
                super::stream_metrics::start(&listen, &name, metrics.clone(), from).await?;
            println!(
                "stream {name}: metrics on http://{}/metrics",
                endpoint.address
            );
            tracing::info!(address = %endpoint.address, "serving the stream's metrics");
            Some(endpoint)
        }
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let mut signals = super::scheduler::stop_on_signals(None);
    tokio::spawn(async move {
        if signals.changed().await.is_ok() {
            let _ = stop.send(true);
        }
    });
    let summary = run_stream(
        RunOptions {
            stream,
            lake,
            brokers: args.brokers,
            idle_exit,
            metrics,
        },
        stopped,
    )
    .await?;
    let c = &summary.counts;
    println!(
        "stream {name}: {} messages in {} batches: {} transactions ({} high-value, {} anomalies), \
         {} customer events, {} dead-lettered, {} already applied, {} late{}{}",
        c.messages,
        summary.batches,
        c.transactions,
        c.high_value,
        c.anomalies,
        c.customer_events,
        c.dead_letters,
        c.replayed,
        c.late,
        if c.alerts_sent + c.alerts_suppressed + c.alerts_failed > 0 {
            format!(
                ", alerts: {} sent, {} suppressed, {} failed",
                c.alerts_sent, c.alerts_suppressed, c.alerts_failed
            )
        } else {
            String::new()
        },
        if summary.restarts > 0 {
            format!(", {} restarts after failures", summary.restarts)
        } else {
            String::new()
        }
    );
    Ok(())
}
