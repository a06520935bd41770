//! Streams hosted by `dataflow serve` (`serve.streams` or `--stream`): each runs as in
//! `dataflow stream`, its counters on the server's `/metrics`. A stream that stops with an
//! error that retrying cannot fix stops the whole process, so a supervisor restarts it and the
//! failure is not hidden behind a healthy scheduler.

use std::sync::Arc;

use dataflow_core::config::Project;
use dataflow_observe::endpoint::FamilySource;
use dataflow_stream::config::find_stream;
use dataflow_stream::{RunOptions, RunSummary, StreamMetrics, run_stream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The running streams.
pub struct HostedStreams {
    tasks: JoinSet<(String, dataflow_stream::Result<RunSummary>)>,
    stop: watch::Sender<bool>,
    /// Their counters, for `/metrics`.
    pub families: FamilySource,
}

impl HostedStreams {
    /// Starts `names` (all checked before any starts).
    pub fn start(
        project: &Project,
        names: &[String],
        brokers: Option<&str>,
    ) -> anyhow::Result<HostedStreams> {
        let mut streams = Vec::new();
        for name in names {
            streams.push(find_stream(&project.dir, Some(name))?);
        }
        let lake = super::open_lake(project)?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut metrics = Vec::new();
        for stream in streams {
            let name = stream.name.clone();
            let counters = StreamMetrics::new();
            metrics.push((name.clone(), counters.clone()));
            let options = RunOptions {
                stream,
                lake: lake.clone(),
                brokers: brokers.map(str::to_string),
                idle_exit: None,
                metrics: counters,
            };
            let stopped = stopped.clone();
            tasks.spawn(async move { (name, run_stream(options, stopped).await) });
        }
        let families: FamilySource = Arc::new(move || {
            metrics
                .iter()
                .flat_map(|(name, m)| super::stream_metrics::families(name, &m.snapshot()))
                .collect()
        });
        Ok(HostedStreams {
            tasks,
            stop,
            families,
        })
    }

    /// Whether no stream is hosted.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits until a stream stops by itself (only on an error it cannot retry); pending forever
    /// when none is hosted.
    pub async fn failed(&mut self) -> anyhow::Error {
        match self.tasks.join_next().await {
            Some(Ok((name, Err(err)))) => anyhow::Error::new(err).context(format!("stream {name}")),
            Some(Ok((name, Ok(_)))) => anyhow::anyhow!("stream {name} stopped unexpectedly"),
            Some(Err(join)) => anyhow::anyhow!("a hosted stream panicked: {join}"),
            None => std::future::pending().await,
        }
    }

    /// Asks every stream to write and commit its open batch, waits for them, and prints each
    /// one's summary.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok((name, Ok(summary))) => println!(
                    "stream {name}: {} messages in {} batches, {} dead-lettered",
                    summary.counts.messages, summary.batches, summary.counts.dead_letters
                ),
                Ok((name, Err(err))) => {
                    tracing::error!(stream = %name, error = %err, "hosted stream failed");
                    first_error
                        .get_or_insert(anyhow::Error::new(err).context(format!("stream {name}")));
                }
                Err(join) => {
                    first_error.get_or_insert(anyhow::anyhow!("a hosted stream panicked: {join}"));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
