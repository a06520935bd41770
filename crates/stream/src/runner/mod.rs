//! `dataflow stream`: a consumer-group member that reads the stream's topics in micro-batches
//! (closed by count or age), runs each batch through the [`Pipeline`] into the lake and
//! PostgreSQL (whose transaction runs while the next batch is processed), and hands it to the
//! committer, which awaits its dead letters' acknowledgements and its PostgreSQL commit and
//! then commits its Kafka offsets while the next batches are read and written: offsets are
//! committed only after every sink has written the events before them.
//!
//! Any retryable failure (broker, lake, PostgreSQL, a dead letter not delivered) ends the
//! session: what is durable is committed, cached state is dropped, and after a backoff a new
//! session resumes from the committed offsets. The sinks skip what they already hold, so the
//! effect is exactly once. A shutdown signal (SIGTERM) finishes the batch in hand, waits for
//! every acknowledgement and commit, records the dead letters' progress, and leaves the group.

mod acks;
mod commit;
mod pg_writes;
mod pipeline;
mod repeats;
#[cfg(test)]
mod tests;

pub use acks::{Acknowledged, Pending};
pub use pipeline::{BatchCounts, Message, Pipeline, Source};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataflow_engine::Lake;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use self::commit::{Committer, Written};

use crate::config::{OffsetReset, Stream};
use crate::error::{Error, Result};
use crate::kafka::{KafkaSettings, StreamContext, ensure_topics};
use crate::metrics::StreamMetrics;
use crate::process::Processor;
use crate::sink::{AlertSink, DeadLetterSink, LakeSink, PgSink};

/// How long `recv` waits when no batch is open, so shutdown and idleness are noticed.
const POLL: Duration = Duration::from_millis(200);
/// Longest wait between two sessions after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long closing the consumer may take before it is left to the process exit.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The stream.
    pub stream: Stream,
    /// The project's lake.
    pub lake: Lake,
    /// Brokers replacing the file's (`--brokers`).
    pub brokers: Option<String>,
    /// Stop (after committing) once no event arrived for this long after partitions were
    /// assigned: for catch-up runs, tests and scheduled jobs.
    pub idle_exit: Option<Duration>,
    /// Where the run counts what it does (served on `/metrics` by the caller).
    pub metrics: StreamMetrics,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Sums over all batches.
    pub counts: BatchCounts,
    /// Batches written.
    pub batches: u64,
    /// Sessions restarted after a retryable failure.
    pub restarts: u64,
}

/// Runs the stream until `shutdown` turns true (or the idle limit), retrying failures.
pub async fn run_stream(
    options: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<RunSummary> {
    let spec = &options.stream.spec;
    let settings = KafkaSettings::from_spec(spec, options.brokers.as_deref())?;
    let processor = Processor::new(&spec.processor)?;
    let mut summary = RunSummary::default();
    let mut backoff = Duration::from_millis(500);
    loop {
        let result = session(&options, &settings, &processor, &mut summary, &mut shutdown).await;
        match result {
            Ok(()) => return Ok(summary),
            Err(err) if err.is_retryable() && !*shutdown.borrow() => {
                summary.restarts += 1;
                options.metrics.record_failure(err.component());
                tracing::warn!(
                    stream = %options.stream.name,
                    error = %err,
                    retry_in_ms = backoff.as_millis() as u64,
                    "stream session failed; resuming from the committed offsets"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return Ok(summary),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(err) => return Err(err),
        }
    }
}

/// One consumer-group membership: sinks opened, consumer subscribed, batches until the end.
async fn session(
    options: &RunOptions,
    settings: &KafkaSettings,
    processor: &Processor,
    summary: &mut RunSummary,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let stream = &options.stream;
    let spec = &stream.spec;
    let topics = &spec.topics;
    if topics.create {
        let created = ensure_topics(
            settings,
            &[
                &topics.transactions,
                &topics.customer_events,
                &topics.dead_letter,
            ],
            topics.partitions,
            topics.replication_factor,
        )
        .await?;
        if !created.is_empty() {
            tracing::info!(topics = ?created, partitions = topics.partitions, "created topics");
        }
    }
    let lake = LakeSink::open(
        &options.lake,
        &spec.sinks.lake,
        &topics.transactions,
        &topics.customer_events,
    )
    .await?;
    let postgres = match &spec.sinks.postgres {
        Some(pg) => {
            Some(PgSink::connect(&pg.resolve_url()?, &pg.metrics_table, &pg.windows_table).await?)
        }
        None => None,
    };
    let dead_letters = DeadLetterSink::new(settings, &topics.dead_letter, &stream.name)?;
    let alerts = match &spec.sinks.alerts {
        Some(config) => Some(AlertSink::new(config, &stream.name)?),
        None => None,
    };
    let mut pipeline = Pipeline::new(
        &stream.name,
        processor.clone(),
        lake,
        postgres,
        Some(dead_letters),
    )
    .with_alerts(alerts)
    .with_metrics(options.metrics.clone())
    .with_state_cache_limit(spec.processor.state_cache_customers);
    options
        .metrics
        .declare_topics(&[&topics.transactions, &topics.customer_events]);
    let context = StreamContext {
        metrics: options.metrics.clone(),
        ..StreamContext::default()
    };
    // How long the broker may hold a fetch that finds nothing new: librdkafka's 500 ms default
    // adds up to that to an event's latency on brokers that poll their storage while they hold
    // it (nisshi sleeps half the remaining wait between looks); 100 ms keeps p99 under 1 s at
    // 5,000 events/s there, at the cost of a few empty fetches a second when idle. A
    // `kafka_properties` entry wins.
    let consumer: Arc<StreamConsumer<StreamContext>> = settings
        .client_config_with_defaults(&[("fetch.wait.max.ms", "100")])
        .set("group.id", stream.group_id())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match spec.consumer.auto_offset_reset {
                OffsetReset::Earliest => "earliest",
                OffsetReset::Latest => "latest",
            },
        )
        .set(
            "session.timeout.ms",
            spec.consumer.session_timeout_ms.to_string(),
        )
        .set(
            "statistics.interval.ms",
            spec.metrics.lag_interval_ms.to_string(),
        )
        .create_with_context(context.clone())
        .map(Arc::new)
        .map_err(Error::kafka_config)?;
    consumer
        .subscribe(&[&topics.transactions, &topics.customer_events])
        .map_err(Error::kafka("subscribing"))?;
    tracing::info!(
        stream = %stream.name,
        group = %stream.group_id(),
        brokers = settings.broker_list(),
        "stream started"
    );
    let committer = Committer::start(consumer.clone());
    let result = consume(
        options,
        &consumer,
        &context,
        &mut pipeline,
        &committer,
        summary,
        shutdown,
    )
    .await;
    // Whatever ended the session, the last PostgreSQL transaction ends (none is left under way
    // for the next session to race with), and what is durable everywhere gets committed.
    let settled = pipeline.settle().await;
    let drained = committer.finish().await;
    let result = match (result, settled, drained) {
        (Ok(()), Ok(()), Ok(())) => pipeline.record_dead_letters().await,
        (Err(err), _, _) | (Ok(()), Err(err), _) | (Ok(()), Ok(()), Err(err)) => Err(err),
    };
    close(consumer).await;
    result
}

/// Reads, batches, applies and commits until shutdown, idleness or an error.
async fn consume(
    options: &RunOptions,
    consumer: &StreamConsumer<StreamContext>,
    context: &StreamContext,
    pipeline: &mut Pipeline,
    committer: &Committer,
    summary: &mut RunSummary,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let spec = &options.stream.spec;
    let max_events = spec.batch.max_events;
    let max_wait = Duration::from_millis(spec.batch.max_wait_ms);
    let transactions_topic = spec.topics.transactions.as_str();
    let mut batch: Vec<Message> = Vec::new();
    let mut opened: Option<Instant> = None;
    let mut last_event = Instant::now();
    let mut assigned_at: Option<Instant> = None;
    let mut stopping = *shutdown.borrow();
    loop {
        if let Some(err) = committer.failure() {
            return Err(err);
        }
        if context.rebalanced.take() {
            if !batch.is_empty() {
                flush(pipeline, committer, &mut batch, summary, &options.metrics).await?;
                opened = None;
            }
            pipeline.reset().await?;
        }
        if assigned_at.is_none() && context.assigned.load(std::sync::atomic::Ordering::Acquire) {
            assigned_at = Some(Instant::now());
            last_event = Instant::now();
        }
        if !stopping {
            let wait = opened.map_or(POLL, |t| max_wait.saturating_sub(t.elapsed()));
            tokio::select! {
                biased;
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        tracing::info!("shutdown requested: writing the open batch");
                        stopping = true;
                    }
                }
                received = tokio::time::timeout(wait, consumer.recv()) => match received {
                    Ok(Ok(message)) => {
                        let topic = message.topic();
                        batch.push(Message {
                            source: if topic == transactions_topic {
                                Source::Transactions
                            } else {
                                Source::CustomerEvents
                            },
                            topic: topic.to_string(),
                            partition: message.partition(),
                            offset: message.offset(),
                            key: message.key().map(<[u8]>::to_vec),
                            payload: message.payload().map(<[u8]>::to_vec),
                            timestamp_ms: message.timestamp().to_millis(),
                        });
                        opened.get_or_insert_with(Instant::now);
                        last_event = Instant::now();
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "consumer error");
                        options.metrics.record_failure("consumer");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_) => {}
                }
            }
        }
        let due = opened.is_some_and(|t| t.elapsed() >= max_wait);
        if !batch.is_empty() && (batch.len() >= max_events || due || stopping) {
            flush(pipeline, committer, &mut batch, summary, &options.metrics).await?;
            opened = None;
            // Idleness is time spent waiting for events, not writing them.
            last_event = Instant::now();
        }
        if stopping {
            return Ok(());
        }
        // Only while partitions are assigned: between a revocation and the next assignment
        // there is nothing to be caught up on.
        if let (Some(idle), Some(_)) = (options.idle_exit, assigned_at)
            && batch.is_empty()
            && last_event.elapsed() >= idle
            && context.assigned.load(std::sync::atomic::Ordering::Acquire)
        {
            // Quiet is not enough (a broker can be slow to serve the first fetch): stop only
            // when every assigned partition has been read to its high watermark.
            let earliest = spec.consumer.auto_offset_reset == OffsetReset::Earliest;
            match blocking(|| caught_up(consumer, earliest)) {
                Ok(true) => {
                    tracing::info!(
                        idle_secs = idle.as_secs_f64(),
                        "caught up and idle: stopping"
                    );
                    return Ok(());
                }
                Ok(false) => tracing::debug!("idle but behind the high watermarks: waiting"),
                Err(err) => tracing::warn!(error = %err, "cannot read the consumer lag"),
            }
            last_event = Instant::now();
        }
    }
}

/// Writes a batch to the lake and PostgreSQL and hands it to the committer.
async fn flush(
    pipeline: &mut Pipeline,
    committer: &Committer,
    batch: &mut Vec<Message>,
    summary: &mut RunSummary,
    metrics: &StreamMetrics,
) -> Result<()> {
    let started = Instant::now();
    let (counts, pending) = pipeline.write(batch).await?;
    let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for message in batch.iter() {
        let entry = next
            .entry((message.topic.clone(), message.partition))
            .or_insert(0);
        *entry = (*entry).max(message.offset + 1);
    }
    tracing::debug!(
        messages = counts.messages,
        transactions = counts.transactions,
        customer_events = counts.customer_events,
        dead_letters = counts.dead_letters,
        replayed = counts.replayed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "batch written"
    );
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics.record_commit(started.elapsed().as_secs_f64(), unix);
    summary.counts.add(&counts);
    summary.batches += 1;
    batch.clear();
    committer.submit(Written { pending, next }).await
}

/// Runs a blocking client call, telling a multi-threaded runtime so.
fn blocking<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(call),
        _ => call(),
    }
}

/// Whether the consumer has read every assigned partition up to its high watermark (false
/// with none assigned). A partition not fetched yet counts from its committed offset, or,
/// without one, from the low watermark (`earliest`) or the high one (`latest`).
fn caught_up(
    consumer: &StreamConsumer<StreamContext>,
    earliest: bool,
) -> rdkafka::error::KafkaResult<bool> {
    const TIMEOUT: Duration = Duration::from_secs(10);
    // Copy what is needed out of each list and drop it at once: a list still alive when the
    // consumer closes makes librdkafka's close hang.
    let owned = |list: TopicPartitionList| -> Vec<(String, i32, Offset)> {
        list.elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition(), e.offset()))
            .collect()
    };
    let positions = owned(consumer.position()?);
    if positions.is_empty() {
        // Nothing assigned (a rebalance under way): nothing shows that everything was read.
        return Ok(false);
    }
    let mut committed: Option<Vec<(String, i32, Offset)>> = None;
    for (topic, partition, position) in positions {
        let (low, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
        let next = match position {
            Offset::Offset(offset) => offset,
            _ => {
                if committed.is_none() {
                    committed = Some(owned(consumer.committed(TIMEOUT)?));
                }
                let stored = committed.iter().flatten().find_map(|(t, p, o)| match o {
                    Offset::Offset(offset) if *t == topic && *p == partition => Some(*offset),
                    _ => None,
                });
                stored.unwrap_or(if earliest { low } else { high })
            }
        };
        if next < high {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Closes the consumer (leaving the group) on its own thread, giving up after a timeout:
/// librdkafka's close can hang, and a hung close must not keep the process alive.
async fn close(consumer: Arc<StreamConsumer<StreamContext>>) {
    let (done, wait) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        drop(consumer);
        let _ = done.send(());
    });
    if tokio::time::timeout(CLOSE_TIMEOUT, wait).await.is_err() {
        tracing::warn!("closing the Kafka consumer timed out; leaving it to the process exit");
    }
}
